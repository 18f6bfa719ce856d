"""Plain, read-only views of database rows, safe to hand across threads and to pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from akari.db.models import Generation


@dataclass(frozen=True)
class GenerationRecord:
    id: int
    user_id: int
    username: str
    prompt: str
    steps: int
    seed: int
    model: str
    generator: str
    store: str
    status: str
    error_reason: str | None
    error_code: str | None
    error_message: str | None
    image_key: str | None
    image_url: str | None
    thumbnail_url: str | None
    image_format: str | None
    width: int | None
    height: int | None
    bytes: int | None
    neurons: float
    generate_ms: int | None
    store_ms: int | None
    is_public: bool
    is_favourite: bool
    created_at: datetime
    finished_at: datetime | None
    deleted: bool
    source: str = "ui"  # ui | api | cli
    spool_key: str | None = None  # the image waits in the spool (made, not stored yet)
    guidance: float | None = None
    negative_prompt: str | None = None
    reference_key: str | None = None  # the stored reference image it started from
    reference_store: str | None = None

    @property
    def is_done(self) -> bool:
        return self.status in ("succeeded", "failed", "pending_upload", "cancelled")

    @property
    def has_image(self) -> bool:
        return self.status in ("succeeded", "pending_upload") and not self.deleted

    @property
    def is_offline_sketch(self) -> bool:
        return self.generator == "offline"

    @property
    def model_label(self) -> str:
        from akari.models_catalog import label_for

        return label_for(self.model)

    def inputs(self) -> dict[str, object]:
        """The model and the inputs beyond prompt, steps, seed and size, for the detail view (those given)."""
        shown: dict[str, object] = {"model": self.model_label}
        for name in ("guidance", "negative_prompt"):
            if getattr(self, name) is not None:
                shown[name] = getattr(self, name)
        if self.reference_key:
            shown["reference image"] = self.reference_key
        return shown

    def reuse_settings(self) -> dict[str, object]:
        """What "Reuse settings" puts back in the form: the GenerationRequest fields this row was made with; its
        reference image is reused through `reference_of` (the same stored image, not a copy)."""
        return {"prompt": self.prompt, "steps": self.steps, "seed": self.seed, "model": self.model,
                "width": self.width, "height": self.height, "guidance": self.guidance,
                "negative_prompt": self.negative_prompt, "is_public": self.is_public,
                "reference_of": self.id if self.reference_key else None}

    @property
    def total_ms(self) -> int | None:
        if self.generate_ms is None:
            return None
        return self.generate_ms + (self.store_ms or 0)

    @classmethod
    def from_row(cls, row: Generation, username: str) -> GenerationRecord:
        return cls(
            id=row.id,
            user_id=row.user_id,
            username=username,
            prompt=row.prompt,
            steps=row.steps,
            seed=row.seed,
            model=row.model,
            generator=row.generator,
            store=row.store,
            status=row.status,
            error_reason=row.error_reason,
            error_code=row.error_code,
            error_message=row.error_message,
            image_key=row.image_key,
            image_url=row.image_url,
            thumbnail_url=row.thumbnail_url,
            image_format=row.image_format,
            width=row.width,
            height=row.height,
            bytes=row.bytes,
            neurons=row.neurons or 0.0,
            generate_ms=row.generate_ms,
            store_ms=row.store_ms,
            is_public=bool(row.is_public),
            is_favourite=bool(row.is_favourite),
            source=row.source or "ui",
            spool_key=row.spool_key,
            guidance=getattr(row, "guidance", None),
            negative_prompt=getattr(row, "negative_prompt", None),
            reference_key=getattr(row, "reference_key", None),
            reference_store=getattr(row, "reference_store", None),
            created_at=row.created_at,
            finished_at=row.finished_at,
            deleted=row.deleted_at is not None,
        )
