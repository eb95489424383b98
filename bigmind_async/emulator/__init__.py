"""An in-process emulator of the BigMind Partner API's DICOM Reports endpoints.

A second, independent reading of partner-api.md: it imports nothing from the SDK's client side.

```python
async with Emulator() as emu:
    customer_id = emu.add_customer()
    study_uid = emu.add_study(customer_id)
    ...  # talk HTTP to emu.base_url with emu.api_key
```
"""

from bigmind_async.emulator._faults import FAULT_KINDS, ROUTE_NAMES, Fault, FaultInjector
from bigmind_async.emulator._seed import DEMO_CUSTOMER_ID
from bigmind_async.emulator._server import Emulator
from bigmind_async.emulator._state import PartnerInfo
from bigmind_async.emulator._stats import EmulatorStats
from bigmind_async.emulator._threaded import ThreadedEmulator, ThreadedFaults
from bigmind_async.emulator._upload import MAX_REPORT_BYTES, UploadRecord
from bigmind_async.emulator._webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "DEMO_CUSTOMER_ID",
    "FAULT_KINDS",
    "MAX_REPORT_BYTES",
    "ROUTE_NAMES",
    "Emulator",
    "EmulatorStats",
    "Fault",
    "FaultInjector",
    "PartnerInfo",
    "ThreadedEmulator",
    "ThreadedFaults",
    "UploadRecord",
    "WebhookDelivery",
    "WebhookEndpoint",
]
