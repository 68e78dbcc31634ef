"""Writes for customers: sites, devices, and account numbers at monitoring stations."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db import DataError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from customers.lib import (
    ACCOUNT_NUMBER_MAX,
    REFERENCE_ID_MAX,
    account_number_errors,
    follows_prefix,
    identifier_error,
    normalise_identifier,
    prefix_example,
)
from customers.models import (
    Bridge,
    Camera,
    CameraDirection,
    Contact,
    Customer,
    CustomerImport,
    DirectionsApproval,
    MonitoringAccount,
    SiteDirections,
    Zone,
)
from dealers.models import Dealer
from stations import protocols
from stations.models import DealerStation, MonitoringStation

logger = logging.getLogger(__name__)

# --- customers (sites) ----------------------------------------------------------------------

CUSTOMER_FIELDS = [
    "name",
    "address",
    "city",
    "region",
    "postal_code",
    "country",
    "time_zone",
    "notes",
]


def customer_create(*, dealer: Dealer, **fields: Any) -> Customer:
    customer = Customer(dealer=dealer, **fields)
    customer.full_clean()
    customer.save()
    return customer


def customer_update(*, customer: Customer, **fields: Any) -> Customer:
    for name, value in fields.items():
        setattr(customer, name, value)
    customer.full_clean()
    if "name" in fields:
        name_validate(customer)
    customer.save(update_fields=[*fields, "updated_at"])
    return customer


def customer_set_archived(*, customer: Customer, archived: bool) -> Customer:
    customer.status = Customer.Status.ARCHIVED if archived else Customer.Status.ACTIVE
    customer.save(update_fields=["status", "updated_at"])
    return customer


# --- devices --------------------------------------------------------------------------------


def _save_device(device: Bridge | Camera | Zone, message_for: dict[str, str]) -> None:
    """Validate, save, and turn a lost race on a unique rule into a field error."""
    device.full_clean()
    try:
        with transaction.atomic():
            device.save()
    except IntegrityError as exc:
        raise ValidationError(message_for) from exc


def bridge_save(*, bridge: Bridge) -> Bridge:
    bridge.serial = normalise_identifier(bridge.serial)
    _save_device(bridge, {"serial": "A bridge with this serial is already registered."})
    return bridge


def camera_save(*, camera: Camera) -> Camera:
    name_validate(camera)
    _save_device(camera, {"channel": "This bridge already has a camera on that channel."})
    return camera


def zone_save(*, zone: Zone, cameras: list[Camera] | None = None) -> Zone:
    if cameras is not None:
        # One query for all of them, not one per camera's bridge.
        own = Camera.objects.filter(
            pk__in=[c.pk for c in cameras], bridge__customer=zone.customer_id
        )
        if own.count() != len({c.pk for c in cameras}):
            raise ValidationError({"cameras": "Choose cameras of this site only."})
    name_validate(zone)
    with transaction.atomic():
        _save_device(zone, {"number": "This site already has a zone with this number."})
        if cameras is not None:
            zone.cameras.set(cameras)
    return zone


# --- names that signals carry ------------------------------------------------------------------
# A site's name, its zones' names and its cameras' names travel with its signals (each receiver
# protocol says which, and what it can carry: stations.protocols). A name a receiver cannot carry
# would reach the station with '?' for what it cannot print, so it is refused when saved: a
# renamed site, zone or camera against the receivers the site transmits to, and a new account
# against every name the site has. ``name_problems`` is the one check; the forms (through the
# services), the admin and the bulk import all ask it.


@dataclass(frozen=True)
class SiteText:
    """One of a site's names that signals may carry, and how a dealer recognises it."""

    kind: str  # stations.protocols SITE_NAME, ZONE_NAME or CAMERA_NAME
    label: str  # what the name is of: "The site", "Zone 017", "The camera on channel 2 of ..."
    text: str

    @classmethod
    def of(cls, obj: Customer | Zone | Camera) -> SiteText:
        if isinstance(obj, Customer):
            return cls(protocols.SITE_NAME, "The site", obj.name)
        if isinstance(obj, Zone):
            return cls(protocols.ZONE_NAME, f"Zone {obj.number or 0:03d}", obj.name)
        label = f"The camera on channel {obj.channel} of bridge {obj.bridge.serial}"
        return cls(protocols.CAMERA_NAME, label, obj.name)

    @property
    def what(self) -> str:
        return f"{self.label}'s name"


@dataclass(frozen=True)
class Carrier:
    """A receiver a site transmits to, named as the dealer knows it (the station record)."""

    record: str
    protocol: str

    @classmethod
    def of(cls, record: DealerStation) -> Carrier | None:
        """None: the record has no receiver (video only), so it carries nothing."""
        if record.receiver_id is None:
            return None
        return cls(record.name, record.receiver.protocol)

    @property
    def label(self) -> str:
        return protocols.spec_for(self.protocol).label


@dataclass(frozen=True)
class NameProblem:
    """A name a receiver cannot carry, and the protocol's rule that says so."""

    name: SiteText
    carrier: Carrier
    rule: str

    def on_name(self) -> str:
        """Said on the name's own field: the receiver, and its rule."""
        return (
            f"The site transmits to {self.carrier.record} ({self.carrier.label}), which cannot "
            f"carry this name: {self.rule}"
        )

    def on_account(self) -> str:
        """Said on a new account: which of the site's names, and the rule."""
        return (
            f"{self.name.what} (“{self.name.text}”) cannot go to this station's receiver: "
            f"{self.rule} Rename it first."
        )


def name_problems(names: Iterable[SiteText], carriers: Iterable[Carrier]) -> list[NameProblem]:
    """THE check: every name that one of the receivers cannot carry, once per name (the first
    receiver that refuses it), in the order given."""
    carriers = list(dict.fromkeys(c for c in carriers if c is not None))
    problems = []
    for name in names:
        for carrier in carriers:
            if rules := protocols.text_problems(carrier.protocol, name.text, kind=name.kind):
                problems.append(NameProblem(name, carrier, rules[0]))
                break
    return problems


def site_carriers(customer_id: int | None) -> list[Carrier]:
    """The receivers the site transmits to (its accounts whose record has one): one query."""
    if customer_id is None:
        return []
    rows = (
        MonitoringAccount.objects.filter(
            customer_id=customer_id, station_record__receiver__isnull=False
        )
        .order_by("station_record__name")
        .values_list("station_record__name", "station_record__receiver__protocol")
    )
    return [Carrier(name, protocol) for name, protocol in rows]


def site_texts(customer: Customer) -> list[SiteText]:
    """Every name of the site that signals may carry: its own, its zones', its cameras'.
    The zones may be prefetched; the cameras are one query (none for a site not saved yet)."""
    texts = [SiteText.of(customer)]
    if customer.pk is None:
        return texts
    texts += [SiteText.of(zone) for zone in customer.zones.all()]
    cameras = Camera.objects.filter(bridge__customer=customer).select_related("bridge")
    texts += [SiteText.of(camera) for camera in cameras.order_by("bridge__serial", "channel")]
    return texts


def name_validate(obj: Customer | Zone | Camera) -> None:
    """A site, zone or camera name that a receiver the site transmits to cannot carry is a
    field error on ``name``, naming the receiver and its protocol's rule."""
    if isinstance(obj, Customer):
        customer_id = obj.pk
    elif isinstance(obj, Zone):
        customer_id = obj.customer_id
    else:
        customer_id = obj.bridge.customer_id if obj.bridge_id else None
    if problems := name_problems([SiteText.of(obj)], site_carriers(customer_id)):
        raise ValidationError({"name": problems[0].on_name()})


# --- monitoring accounts --------------------------------------------------------------------


def account_number_for(record: DealerStation, typed: str) -> str:
    """The account number to store for what the dealer typed: the station's prefix goes in
    front when the record's receiver adds it itself (the dealer types the number without it).
    The account form and the bulk import both use this."""
    number = normalise_identifier(typed)
    if number and record.receiver_adds_prefix:
        return record.account_prefix + number
    return number


def account_conflicts(accounts: Sequence[MonitoringAccount]) -> list[dict[str, str]]:
    """The database's uniqueness rules for these accounts, asked before writing: for each
    account, the field errors of the rows already stored that it would clash with (at its
    station: the number, the reference ID, a second account of the customer).

    Messages never name another dealer's customer: only that the station uses the number.
    One query per ``CONFLICT_CHUNK`` accounts: the form asks for one, the bulk import for
    thousands.
    """
    results: list[dict[str, str]] = []
    for start in range(0, len(accounts), CONFLICT_CHUNK):
        chunk = accounts[start : start + CONFLICT_CHUNK]
        stored = MonitoringAccount.objects.filter(
            station_id__in={a.station_id for a in chunk}
        ).filter(
            Q(account_number__in={a.account_number for a in chunk})
            | Q(reference_id__in={a.reference_id for a in chunk if a.reference_id})
            | Q(customer_id__in={a.customer_id for a in chunk if a.customer_id})
        )
        numbers, references, customers = {}, {}, {}
        for pk, station, number, reference, customer in stored.values_list(
            "pk", "station_id", "account_number", "reference_id", "customer_id"
        ):
            numbers.setdefault((station, number), set()).add(pk)
            if reference:
                references.setdefault((station, reference), set()).add(pk)
            customers.setdefault((station, customer), set()).add(pk)
        for account in chunk:
            station, own = account.station_id, {account.pk}
            errors: dict[str, str] = {}
            if numbers.get((station, account.account_number), set()) - own:
                errors["account_number"] = MonitoringAccount.DUPLICATE_NUMBER
            if account.reference_id and (
                references.get((station, account.reference_id), set()) - own
            ):
                errors["reference_id"] = MonitoringAccount.DUPLICATE_REFERENCE
            if account.customer_id and customers.get((station, account.customer_id), set()) - own:
                errors["station_record"] = MonitoringAccount.DUPLICATE_STATION
            results.append(errors)
    return results


CONFLICT_CHUNK = 500


def _account_errors(account: MonitoringAccount) -> dict[str, str]:
    """The uniqueness rules of the database for one account, each on its field."""
    return account_conflicts([account])[0]


def _validate_account(account: MonitoringAccount, record: DealerStation) -> None:
    errors: dict[str, str] = {}
    number, reference = account.account_number, account.reference_id
    if error := identifier_error(number, what="account number", max_length=ACCOUNT_NUMBER_MAX):
        errors["account_number"] = error + " For example 1234 or ABC-1234."
    elif not follows_prefix(number, record.account_prefix):
        errors["account_number"] = (
            f"{record.station} assigned you the prefix {record.account_prefix}. "
            + prefix_example(record.account_prefix, receiver_adds_prefix=False)
        )
    elif protocol_errors := account_number_errors(number, record):
        errors["account_number"] = " ".join(protocol_errors)
    label = record.station.reference_id_label
    if reference and (
        error := identifier_error(reference, what=label, max_length=REFERENCE_ID_MAX)
    ):
        errors["reference_id"] = error
    elif not reference and record.station.requires_reference_id:
        errors["reference_id"] = f"{record.station} requires the {label} from its software."
    if errors:
        raise ValidationError(errors)


def account_rule_errors(account: MonitoringAccount) -> dict[str, list[str]]:
    """Every rule an account must meet that needs no other row (the number's form, the
    station's prefix, the receiver protocol's limits, the reference ID the station requires),
    as field errors. The account's customer and station record (with its station and
    receiver) must be loaded. The account service and the bulk import both ask it; the
    site's names (``name_problems``) are asked apart, since they are other rows."""
    try:
        account.clean()
        _validate_account(account, account.station_record)
    except ValidationError as exc:
        return exc.message_dict
    return {}


def account_validate(account: MonitoringAccount) -> None:
    """Every rule an account must meet, including the database's, as field errors: also that
    its receiver can carry every name of the site (saying which cannot, and why)."""
    rule_errors = account_rule_errors(account)
    carrier = Carrier.of(account.station_record)
    if carrier is not None and (problems := name_problems(site_texts(account.customer), [carrier])):
        rule_errors.setdefault("station_record", []).append(problems[0].on_account())
    if rule_errors:
        raise ValidationError(rule_errors)
    errors = _account_errors(account)
    if errors:
        raise ValidationError(errors)


def _save_account(account: MonitoringAccount, *, actor: Any) -> MonitoringAccount:
    account_validate(account)
    account._history_user = actor  # who made the change, for django-simple-history
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:
        # Another request took the number between our check and our insert: the database
        # decided. Ask again now that its row is committed, and answer on the field.
        errors = _account_errors(account)
        if not errors:
            raise
        raise ValidationError(errors) from exc
    return account


def account_assign(
    *,
    customer: Customer,
    station_record: DealerStation,
    account_number: str,
    reference_id: str = "",
    actor: Any = None,
) -> MonitoringAccount:
    """Give a customer an account number at the station of one of the dealer's records."""
    if station_record.dealer_id != customer.dealer_id:
        raise ValidationError({"station_record": "Choose one of your own station records."})
    account = MonitoringAccount(
        customer=customer,
        station_record=station_record,
        account_number=normalise_identifier(account_number),
        reference_id=normalise_identifier(reference_id),
    )
    return _save_account(account, actor=actor)


def account_update(
    *,
    account: MonitoringAccount,
    station_record: DealerStation,
    account_number: str,
    reference_id: str = "",
    actor: Any = None,
) -> MonitoringAccount:
    if station_record.dealer_id != account.customer.dealer_id:
        raise ValidationError({"station_record": "Choose one of your own station records."})
    account.station_record = station_record
    account.account_number = normalise_identifier(account_number)
    account.reference_id = normalise_identifier(reference_id)
    return _save_account(account, actor=actor)


def account_remove(*, account: MonitoringAccount, actor: Any = None) -> None:
    account._history_user = actor
    account.delete()


# --- directions and contacts for operators ----------------------------------------------------


def _directions_content(customer: Customer, note: str) -> dict[str, Any]:
    """The dealer's current directions as operators would see them once approved."""
    cameras = (
        Camera.objects.filter(bridge__customer=customer)
        .select_related("bridge", "direction")
        .order_by("bridge__serial", "channel")
    )
    rows = []
    for camera in cameras:
        direction = getattr(camera, "direction", None)
        if direction is None or not direction.note.strip():
            continue
        rows.append(
            {
                "camera": camera.pk,
                "name": camera.name,
                "channel": camera.channel,
                "note": direction.note.strip(),
                "threat_level": direction.threat_level,
                "threat_label": direction.get_threat_level_display(),
            }
        )
    return {"note": note.strip(), "cameras": rows}


def _notify_status(directions: SiteDirections, status: str, station_ids: list[int]) -> None:
    """Tell the dealer's subscribers that the directions are now ``status`` at these
    stations, after commit, through the task engine."""
    pk, version = directions.pk, directions.version
    transaction.on_commit(
        lambda: async_task(
            "customers.tasks.directions_status_notify", pk, status, station_ids, version
        )
    )


def _site_station_ids(customer: Customer) -> list[int]:
    """The stations where the site has an account: each approves the directions."""
    return list(
        MonitoringAccount.objects.filter(customer=customer)
        .order_by("station_id")
        .values_list("station_id", flat=True)
    )


def directions_save(
    *,
    customer: Customer,
    note: str,
    cameras: list[tuple[Camera, str, str]],
    actor: Any,
) -> SiteDirections:
    """Save the dealer's directions: a site-wide note and (camera, note, threat level) rows.

    Any change makes a new version that waits for the approval of every station of the site;
    each station's operators keep seeing the last version their station approved meanwhile.
    Saving the same content changes nothing.
    """
    own = {camera.pk for camera in Camera.objects.filter(bridge__customer=customer)}
    if any(camera.pk not in own for camera, _, _ in cameras):
        raise ValidationError({"cameras": "Choose cameras of this site only."})
    for _, _, level in cameras:
        if level not in CameraDirection.ThreatLevel.values:
            raise ValidationError({"cameras": "Choose a threat level for each camera."})
    with transaction.atomic():
        directions, created = SiteDirections.objects.select_for_update().get_or_create(
            customer=customer
        )
        before = _directions_content(customer, directions.note)
        existing = {
            d.camera_id: d
            for d in CameraDirection.objects.filter(camera__bridge__customer=customer)
        }
        for camera, camera_note, level in cameras:
            direction = existing.get(camera.pk) or CameraDirection(camera=camera)
            if direction.note == camera_note.strip() and direction.threat_level == level:
                continue
            direction.note, direction.threat_level = camera_note.strip(), level
            direction.full_clean()
            _audit(direction, actor).save()
        after = _directions_content(customer, note)
        if not created and before == after:
            return directions
        # The stations that had reviewed the version in force: for them the status changes
        # (back to pending). Stations still reviewing an older version were pending already.
        if created:
            changed = _site_station_ids(customer)
        else:
            changed = sorted(
                directions.approvals.filter(version=directions.version).values_list(
                    "station_id", flat=True
                )
            )
        directions.note = note.strip()
        directions.version = 1 if created else directions.version + 1
        directions.changed_by = actor
        directions.changed_at = timezone.now()
        _audit(directions, actor).save()
        if created or changed:
            _notify_status(directions, SiteDirections.Status.PENDING, changed)
    return directions


def directions_review(
    *,
    directions: SiteDirections,
    station: MonitoringStation,
    version: int,
    approve: bool,
    actor: Any,
    note: str = "",
) -> DirectionsApproval:
    """A station admin approves the version they read for their own station's operators, or
    sends it back with a reason. Other stations of the site review it on their own."""
    if not MonitoringAccount.objects.filter(customer=directions.customer, station=station).exists():
        raise ValidationError("This site has no account at your station.")
    if not approve and not note.strip():
        raise ValidationError({"note": "Say what the dealer should change."})
    # The note comes from the page as typed, with no form field between to refuse a NUL byte
    # (which PostgreSQL's text columns cannot hold).
    ProhibitNullCharactersValidator()(note)
    with transaction.atomic():
        # The directions' row lock orders a review against the dealer's changes and against
        # another admin of the same station reviewing at the same moment.
        directions = SiteDirections.objects.select_for_update().get(pk=directions.pk)
        if directions.version != version:
            raise ValidationError(
                "The dealer changed these directions while you read them: review them again."
            )
        approval = DirectionsApproval.objects.filter(
            directions=directions, station=station
        ).first() or DirectionsApproval(directions=directions, station=station)
        if approval.pk is not None and approval.version == version:
            raise ValidationError("Your station has already reviewed these directions.")
        now = timezone.now()
        approval.version = version
        if approve:
            approval.decision = DirectionsApproval.Decision.APPROVED
            approval.approved = _directions_content(directions.customer, directions.note)
            approval.approved_version = version
            approval.approved_at = now
        else:
            # What this station's operators see stays the version it approved before.
            approval.decision = DirectionsApproval.Decision.REJECTED
        approval.note = note.strip()
        approval.reviewed_by = actor
        approval.reviewed_at = now
        approval.full_clean()
        _audit(approval, actor).save()
        _notify_status(directions, approval.decision, [station.pk])
    return approval


CONTACT_FIELDS = ["name", "phone", "phone_alt", "position", "notes"]


def contact_save(*, contact: Contact, actor: Any, passcode: str | None = None) -> Contact:
    """Save a call-list entry; ``passcode`` None keeps the stored one, '' clears it."""
    if passcode is not None:
        contact.passcode = passcode.strip()
    contact.full_clean()
    _audit(contact, actor).save()
    return contact


def contact_delete(*, contact: Contact, actor: Any) -> None:
    _audit(contact, actor).delete()


def _audit(obj: Any, actor: Any) -> Any:
    obj._history_user = actor  # who made the change, for django-simple-history
    return obj


# --- bulk import ----------------------------------------------------------------------------
# customers.imports asks the account rules above, so it is imported where it is used.

IMPORT_EXTENSIONS = {".csv": CustomerImport.Format.CSV, ".xlsx": CustomerImport.Format.XLSX}


def customer_import_upload(
    *, dealer: Dealer, file_name: str, content: bytes, actor: Any
) -> CustomerImport:
    """Keep an uploaded file and have the task engine check it (the preview)."""
    from customers import imports

    suffix = Path(file_name).suffix.lower()
    if suffix not in IMPORT_EXTENSIONS:
        raise ValidationError({"file": "Upload a .csv or an .xlsx (Excel) file."})
    if len(content) > imports.MAX_FILE_BYTES:
        raise ValidationError(
            {"file": f"The file is larger than {imports.MAX_FILE_BYTES // 2**20} MB."}
        )
    upload = CustomerImport.objects.create(
        dealer=dealer,
        created_by=actor,
        file_name=Path(file_name).name[:200],
        file_format=IMPORT_EXTENSIONS[suffix],
        content=content,
    )
    transaction.on_commit(lambda: async_task("customers.tasks.import_check", upload.pk))
    return upload


def _dataset(upload: CustomerImport):
    from customers import imports

    return imports.read_file(bytes(upload.content), upload.file_format)


_UNSTORABLE = (
    "The file holds a value the portal cannot store, so nothing was imported. Check it for "
    "unusual characters and upload it again."
)


def customer_import_check(*, upload: CustomerImport) -> CustomerImport:
    """Check every row of the file and keep what was found; writes nothing else."""
    from customers import imports

    try:
        # A savepoint: a value the database refuses leaves the upload's own row writable.
        with transaction.atomic():
            result = imports.plan_import(upload.dealer, _dataset(upload)).summary()
    except imports.ImportFileError as exc:
        result = {"file_error": str(exc)}
    except DataError:
        # Never an upload stuck at "checking": the dealer hears the file cannot be taken.
        logger.exception("import %s: the database refused a value of the file", upload.pk)
        result = {"file_error": _UNSTORABLE}
    upload.result = result
    upload.state = CustomerImport.State.CHECKED
    upload.save(update_fields=["result", "state"])
    return upload


def customer_import_start(*, upload: CustomerImport, actor: Any) -> CustomerImport:
    """The dealer confirms the preview: the task engine imports the file (once)."""
    with transaction.atomic():
        upload = CustomerImport.objects.select_for_update().get(pk=upload.pk)
        if upload.state != CustomerImport.State.CHECKED or upload.has_errors:
            raise ValidationError("Only a checked file without errors can be imported.")
        upload.state = CustomerImport.State.IMPORTING
        upload.save(update_fields=["state"])
        pk, actor_pk = upload.pk, getattr(actor, "pk", None)
        transaction.on_commit(lambda: async_task("customers.tasks.import_commit", pk, actor_pk))
    return upload


def customer_import_commit(*, upload: CustomerImport, actor: Any) -> CustomerImport:
    """Import every row, or none when a row now has an error (checked again: the world may
    have moved since the preview) or another change got in the way."""
    from customers import imports

    try:
        # A savepoint: whatever the database refuses leaves the upload's own row writable.
        with transaction.atomic():
            plan = imports.commit_import(upload.dealer, _dataset(upload), actor=actor)
    except imports.ImportRefused as exc:
        upload.result = exc.plan.summary()
        upload.state = CustomerImport.State.REFUSED
    except IntegrityError:
        upload.result = {
            **upload.result,
            "file_error": "Another change to these accounts was saved while the file was "
            "imported, so nothing was imported. Upload the file again to check it anew.",
        }
        upload.state = CustomerImport.State.REFUSED
    except DataError:
        logger.exception("import %s: the database refused a value of the file", upload.pk)
        upload.result = {**upload.result, "file_error": _UNSTORABLE}
        upload.state = CustomerImport.State.REFUSED
    else:
        upload.result = plan.summary()
        upload.state = CustomerImport.State.IMPORTED
        upload.imported_at = timezone.now()
    upload.save(update_fields=["result", "state", "imported_at"])
    return upload
