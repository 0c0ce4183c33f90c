"""Imports every table module so that the metadata is complete (used by migrations and tests)."""

from safecity.alerts import models as alerts_models
from safecity.dispatch import models as dispatch_models
from safecity.ingest import models as ingest_models
from safecity.places import models as places_models
from safecity.recognition import models as recognition_models
from safecity.registry import models as registry_models
from safecity.security import models as security_models
from safecity.tracking import hazmat_models
from safecity.tracking import missing_models as missing_models
from safecity.tracking import models as tracking_models
from safecity.workbench import models as workbench_models
from safecity.workbench import vehicle_models

__all__ = [
    "alerts_models",
    "dispatch_models",
    "hazmat_models",
    "ingest_models",
    "missing_models",
    "places_models",
    "recognition_models",
    "registry_models",
    "security_models",
    "tracking_models",
    "vehicle_models",
    "workbench_models",
]
