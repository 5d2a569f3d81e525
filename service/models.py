"""Every ORM model, imported in one place for Alembic and for relationship resolution."""

from service.analysis_run.models import AnalysisEvent, AnalysisRun, FrameData, FrameManifest
from service.annotation.models import TrackAnnotation, TrackRegion
from service.audit.models import AuditLog
from service.db import Base
from service.library_import.models import ImportTrack, LibraryImport
from service.listening_prompt.models import ListeningPromptPreset, ListeningPromptTemplate
from service.outbox.models import OutboxEvent
from service.reference.models import Reference
from service.track.models import Track
from service.user.models import ApiSession, LoginTicket, User

__all__ = [
    "AnalysisEvent",
    "AnalysisRun",
    "ApiSession",
    "AuditLog",
    "Base",
    "FrameData",
    "FrameManifest",
    "ImportTrack",
    "LibraryImport",
    "ListeningPromptPreset",
    "ListeningPromptTemplate",
    "LoginTicket",
    "OutboxEvent",
    "Reference",
    "Track",
    "TrackAnnotation",
    "TrackRegion",
    "User",
]
