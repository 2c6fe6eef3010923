"""Test doubles of notifications' adapters (behind the same interfaces as the real ones)."""

from email.message import EmailMessage

from notifications.mailer import DeliveryError, OutgoingEmail


class RecordingMailer:
    """Records messages instead of sending them (as a server would receive them, read back
    with the default policy); can be told to fail."""

    def __init__(self, mail_from: str = "DropWave <no-reply@dropwave.test>") -> None:
        self.mail_from = mail_from
        self.sent: list[EmailMessage] = []
        self.fail_with: DeliveryError | None = None

    async def send(self, message: OutgoingEmail) -> str | None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message.parsed(self.mail_from))
        return None

    async def close(self) -> None:
        """Nothing to release."""
