"""Email verification for a domain allowlist: a one-time code sent by SMTP (smtplib), proving the address is yours."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from akari.config import SmtpSettings
from akari.db.models import EmailCode, User, utcnow

log = logging.getLogger("akari.verification")

CODE_LIFETIME = timedelta(minutes=15)
RESEND_AFTER = timedelta(seconds=60)
MAX_TRIES = 5
SMTP_TIMEOUT_S = 10.0
# The same reply whatever happened: it must not tell a visitor which addresses may register or have an account.
SENT = ("If this address may register here, a code is on its way to it (valid for 15 minutes). Enter it below with "
        "the rest of the form.")


def _code_hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


class EmailVerification:
    def __init__(self, sessions: sessionmaker[Session], smtp: SmtpSettings | None) -> None:
        self.sessions = sessions
        self.smtp = smtp

    @property
    def available(self) -> bool:
        return self.smtp is not None

    def send_code(self, email: str, now: datetime | None = None) -> str:
        """Send a code if this (checked) email may register by the allowlist and has no account; the same sentence
        back in every case."""
        from akari.accounts import check_email, registration_of  # the one email rule and registration setting

        email = check_email(email, required=True)
        now = now or utcnow()
        code = None
        with self.sessions.begin() as session:
            recent = session.scalar(select(exists().where(EmailCode.email == email,
                                                          EmailCode.created_at > now - RESEND_AFTER)))
            taken = session.scalar(select(exists().where(User.email == email)))
            if (self.smtp is not None and registration_of(session).allows(email, email_verified=True)
                    and not taken and not recent):
                code = f"{secrets.randbelow(10**6):06d}"
                salt = secrets.token_hex(8)
                session.execute(delete(EmailCode).where(EmailCode.email == email))
                session.add(EmailCode(email=email, salt=salt, code_hash=_code_hash(salt, code),
                                      expires_at=now + CODE_LIFETIME, tries=0, created_at=now))
        if code is not None:
            self._send(email, code)
        return SENT

    def _send(self, email: str, code: str) -> None:
        assert self.smtp is not None
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = email
        message["Subject"] = f"Your Akari code: {code}"
        message.set_content(f"Your code to create an Akari account is {code}.\n\nIt is valid for 15 minutes. If you "
                            "did not ask for it, ignore this email.\n")
        smtp = self.smtp
        try:
            if smtp.tls == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=SMTP_TIMEOUT_S,
                                                        context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT_S)
            with client:
                if smtp.tls == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if smtp.username and smtp.password:
                    client.login(smtp.username, smtp.password)
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            # Logged, not shown: the reply must read the same whether or not a code was due.
            log.error("the verification email could not be sent: %s: %s", type(exc).__name__, exc)


def take_code(session: Session, email: str, code: str, now: datetime | None = None) -> bool:
    """Whether `code` is the live code for `email`; a right code is used up, a wrong one counts towards MAX_TRIES.
    Runs in its own transaction (a failed registration must not give the try back)."""
    now = now or utcnow()
    row = session.scalar(select(EmailCode).where(EmailCode.email == email, EmailCode.expires_at > now,
                                                 EmailCode.tries < MAX_TRIES))
    if row is None:
        return False
    if hmac.compare_digest(row.code_hash, _code_hash(row.salt, (code or "").strip())):
        session.execute(delete(EmailCode).where(EmailCode.id == row.id))
        return True
    session.execute(update(EmailCode).where(EmailCode.id == row.id).values(tries=EmailCode.tries + 1))
    return False
