"""How the API writes a generation and the usage figures as JSON: `photo` first, URLs a browser can open."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request

from akari.images import Images
from akari.records import GenerationRecord
from akari.usage import ModelUsage, UsageReport


def absolute(request: Request, url: str | None) -> str | None:
    """An app path such as /images/... as a full URL on the host the caller used; other URLs unchanged."""
    if url is None or not url.startswith("/"):
        return url
    return str(request.base_url).rstrip("/") + url


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


def generation_json(request: Request, images: Images, record: GenerationRecord) -> dict[str, Any]:
    return {
        "photo": absolute(request, images.url(record, "full")),  # first, and what it always meant
        "id": record.id,
        "status": record.status,
        "seed": record.seed,
        "thumbnail": absolute(request, images.url(record, "thumb")),
        "prompt": record.prompt,
        "steps": record.steps,
        "width": record.width,
        "height": record.height,
        "format": record.image_format,
        "model": record.model,
        "model_label": record.model_label,
        "guidance": record.guidance,
        "negative_prompt": record.negative_prompt,
        # The stored image it started from (an upload, or a gallery image), if any.
        "reference": None if not record.reference_key else {"key": record.reference_key,
                                                            "store": record.reference_store},
        "neurons": record.neurons,
        "generator": record.generator,
        "offline_sketch": record.is_offline_sketch,
        "public": record.is_public,
        "favourite": record.is_favourite,
        "user": record.username,
        "source": record.source,
        "created_at": _time(record.created_at),
        "finished_at": _time(record.finished_at),
        "timings": {"generate_ms": record.generate_ms, "store_ms": record.store_ms, "total_ms": record.total_ms},
        "error": None if record.status not in ("failed", "cancelled", "pending_upload")
        else {"reason": record.error_reason, "message": record.error_message},
        "url": absolute(request, f"/api/generations/{record.id}"),
    }


def model_usage_json(rows: list[ModelUsage]) -> list[dict[str, Any]]:
    return [{"model": m.model, "label": m.label, "generations": m.generations, "succeeded": m.succeeded,
             "failed": m.failed, "neurons": m.neurons, "dollars": round(m.dollars, 4), "average_ms": m.average_ms,
             "p95_ms": m.p95_ms} for m in rows]


def usage_json(report: UsageReport, username: str | None, by_model: list[ModelUsage] | None = None) -> dict[str, Any]:
    head = report.headline
    split = {} if by_model is None else {"per_model": model_usage_json(by_model)}
    return {
        "user": username,  # None: everyone
        "from": report.filter.date_from.isoformat(),
        "to": report.filter.date_to.isoformat(),
        "source": report.filter.source,  # None: all
        "generations": head.generations,
        "succeeded": head.succeeded,
        "failed": head.failed,
        "success_rate": head.success_rate,
        "median_ms": head.median_ms,
        "p95_ms": head.p95_ms,
        "neurons": head.neurons,
        "dollars": round(head.dollars, 4),
        "today": {"used": head.today_used, "quota": head.today_quota},
        "per_day": [{"day": d.day.isoformat(), "status": d.status, "generations": d.generations,
                     "neurons": d.neurons} for d in report.per_day],
        "failure_reasons": {c.label: c.generations for c in report.failure_reasons},
        "steps": {c.label: c.generations for c in report.steps},
        "per_user": [{"user": u.username, "generations": u.generations, "succeeded": u.succeeded,
                      "failed": u.failed, "neurons": u.neurons} for u in report.per_user],
        **split,
    }
