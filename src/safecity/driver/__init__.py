"""The demo driver: put a generated city into a platform and feed it with simulated devices.

In process (`safecity demo`), station uploads are coalesced for up to 100 ms and handed to the
ingest pipeline as one micro-batch, the way the MQTT adapter coalesces messages, and the
housing's doors run as simulated controllers. Remotely (`safecity simulate`), each station posts
its own uploads over HTTP with its own secret (or publishes them over MQTT), exactly as a real
device would.
"""

from safecity.driver.accounts import DEMO_ACCOUNTS, DemoAccount, print_demo_accounts, seed_demo_accounts
from safecity.driver.live import (
    DUTY_OFFICER,
    Coalescer,
    deliver_texts,
    demo_doors,
    report_stolen,
    run_in_process,
    sms_file,
)
from safecity.driver.loading import city_summary, ensure_loaded
from safecity.driver.remote import DevicePublishers, run_remote

__all__ = [
    "DEMO_ACCOUNTS",
    "DUTY_OFFICER",
    "Coalescer",
    "DemoAccount",
    "DevicePublishers",
    "city_summary",
    "deliver_texts",
    "demo_doors",
    "ensure_loaded",
    "print_demo_accounts",
    "report_stolen",
    "run_in_process",
    "run_remote",
    "seed_demo_accounts",
    "sms_file",
]
