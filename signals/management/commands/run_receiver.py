"""Run receiver emulators in the foreground until Ctrl-C or SIGTERM: one listener per
``--listen PROTOCOL:PORT[:udp]`` (any protocol the portal has a codec for), or one XML v1 listener
on ``--port``. Each listener has its own secret: ``--secret PROTOCOL=SECRET`` (or
``PROTOCOL:PORT[:udp]=SECRET`` for one of two listeners of a protocol); a ``--secret`` without a
name is the secret of every listener whose protocol has one and that was given none by name."""

from __future__ import annotations

import logging
import signal
import ssl
import threading
from argparse import ArgumentParser, ArgumentTypeError
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from signals import codecs
from signals.codecs.base import ReceiverConfig
from signals.emulator import Faults, ReceiverEmulator, is_loopback_host


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ArgumentTypeError(f"a rate is between 0 and 1, got {value:g}")
    return value


def _listener(text: str) -> tuple[str, int, str]:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[1].isdigit():
        raise ArgumentTypeError(f"use PROTOCOL:PORT or PROTOCOL:PORT:udp, got {text!r}")
    protocol, port = parts[0], int(parts[1])
    transport = parts[2] if len(parts) == 3 else "tcp"
    codec = codecs.codec_for(protocol)
    if codec is None:
        known = ", ".join(c.protocol for c in codecs.all_codecs())
        raise ArgumentTypeError(f"unknown protocol {protocol!r} (known: {known})")
    if transport not in codec.transports or transport not in ("tcp", "udp"):
        raise ArgumentTypeError(f"{codec.label} does not go over {transport}")
    return protocol, port, transport


def _setting(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ArgumentTypeError(f"use NAME=VALUE, got {text!r}")
    if value.isdigit():
        return name, int(value)
    return name, value.split(",") if "," in value else value


def _names(listener: tuple[str, int, str]) -> list[str]:
    """What a ``--secret`` may call a listener, the most specific first."""
    protocol, port, transport = listener
    names = [f"{protocol}:{port}:{transport}", protocol]
    if transport == "tcp":
        names.insert(1, f"{protocol}:{port}")
    return names


def _secrets_by_listener(
    texts: list[str], listeners: list[tuple[str, int, str]], settings: dict[str, object]
) -> list[str]:
    """Each listener's secret, in the order of ``listeners``, from the ``--secret`` options."""
    known = {name for listener in listeners for name in _names(listener)}
    named: dict[str, str] = {}
    unnamed: str | None = None
    for text in texts:
        name, sep, secret = text.partition("=")
        if sep and name in known:
            if name in named:
                raise CommandError(f"--secret {name}=... is given twice")
            named[name] = secret
        elif sep and (codecs.codec_for(name.split(":")[0]) is not None):
            raise CommandError(f"--secret {name}=...: no --listen {name}")
        elif unnamed is not None:
            raise CommandError(
                "--secret without a listener's name is given twice; name each listener "
                "(e.g. --secret sia_dc09=KEY --secret sos_access_v4=PASSWORD)"
            )
        else:
            unnamed = text
    secrets = []
    for listener in listeners:
        codec = codecs.codec_for(listener[0])
        label = _names(listener)[0]
        by_name = next((named[n] for n in _names(listener) if n in named), None)
        if codec.secret is None:
            if by_name:
                raise CommandError(f"{codec.label} has no secret (--secret for {label})")
            secrets.append("")  # an unnamed secret is the other listeners'
            continue
        secret = by_name if by_name is not None else (unnamed or "")
        problem = codec.secret.check(secret, {**codec.settings_defaults, **settings})
        if secret and problem:
            raise CommandError(
                f"the secret for {label} is no {codec.secret.label.lower()} of "
                f"{codec.label}: {problem}"
                + (" Name the listener each secret is for." if by_name is None else "")
            )
        secrets.append(secret)
    return secrets


class Command(BaseCommand):
    help = (
        "Run receiver emulators (one per --listen PROTOCOL:PORT[:udp]; XML v1 on --port "
        "otherwise) that log every request and reply. Faults are injected at seeded random "
        "rates, the same for every protocol."
    )
    # The emulator needs neither the database nor the system checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--port", type=int, default=9100, help="XML v1 on this port (0 picks a free one)."
        )
        parser.add_argument(
            "--listen",
            type=_listener,
            action="append",
            default=[],
            metavar="PROTOCOL:PORT[:udp]",
            help="A listener for a protocol (e.g. xml_v1:9100, sia_dc09:9101:udp); repeatable.",
        )
        parser.add_argument(
            "--secret",
            action="append",
            default=[],
            metavar="[LISTENER=]SECRET",
            help="A listener's protocol secret (a DC-09 key, an SOS Access authentication): "
            "sia_dc09=KEY, or sia_dc09:9101:udp=KEY for one listener; without LISTENER= for "
            "every listener given none by name. Repeatable. A test tool only.",
        )
        parser.add_argument(
            "--setting",
            type=_setting,
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A protocol setting (as the receiver's settings form names it); repeatable.",
        )
        parser.add_argument(
            "--allow-remote",
            action="store_true",
            help="Allow binding a non-loopback address (the emulator accepts anything).",
        )
        parser.add_argument("--tls-cert", help="PEM certificate chain; enables TLS.")
        parser.add_argument("--tls-key", help="PEM private key for --tls-cert.")
        parser.add_argument("--reject-rate", type=_rate, default=0.0)
        parser.add_argument("--failover-rate", type=_rate, default=0.0)
        parser.add_argument("--delay-rate", type=_rate, default=0.0)
        parser.add_argument("--delay-seconds", type=float, default=2.0)
        parser.add_argument("--drop-rate", type=_rate, default=0.0)
        parser.add_argument("--close-rate", type=_rate, default=0.0)
        parser.add_argument("--idle-timeout", type=float, default=None)
        parser.add_argument("--seed", type=int, default=None, help="Seed for the fault rolls.")

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        if not options["allow_remote"] and not is_loopback_host(host):
            raise CommandError(
                f"{host} is not a loopback address; the emulator accepts anything sent to it. "
                "Pass --allow-remote to bind it anyway."
            )
        if options["delay_seconds"] < 0:
            raise CommandError("--delay-seconds must not be negative")
        faults = Faults(
            reject_rate=options["reject_rate"],
            failover_rate=options["failover_rate"],
            delay_rate=options["delay_rate"],
            delay_seconds=options["delay_seconds"],
            drop_rate=options["drop_rate"],
            close_rate=options["close_rate"],
        )
        ssl_context = self._ssl_context(options["tls_cert"], options["tls_key"])
        listeners = options["listen"] or [("xml_v1", options["port"], "tcp")]
        settings = dict(options["setting"])
        secrets = _secrets_by_listener(options["secret"], listeners, settings)
        emulators = []
        for (protocol, port, transport), secret in zip(listeners, secrets, strict=True):
            try:
                emulators.append(
                    ReceiverEmulator(
                        host,
                        port,
                        protocol=protocol,
                        config=ReceiverConfig(
                            receiver_id=0,
                            protocol=protocol,
                            settings=settings,
                            secret=secret,
                        ),
                        transport=transport,
                        ssl_context=ssl_context if transport == "tcp" else None,
                        faults=faults,
                        seed=options["seed"],
                        idle_timeout=options["idle_timeout"],
                        allow_remote=options["allow_remote"],
                    )
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        stop = threading.Event()
        emulator_logger = logging.getLogger("signals.emulator")
        saved_logger = (emulator_logger.level, emulator_logger.propagate)
        handler = self._log_to_stdout(emulator_logger)
        previous = self._on_signals(stop)
        started = []
        try:
            for emulator in emulators:
                try:
                    emulator.start()
                except OSError as exc:
                    raise CommandError(f"cannot listen on {host}:{emulator.port}: {exc}") from None
                started.append(emulator)
                scheme = "tls" if emulator.ssl_context else emulator.transport
                self.stdout.write(
                    f"Receiver listening on {scheme}://{host}:{emulator.port} ({emulator.protocol})"
                )
            self.stdout.flush()
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            for emulator in started:
                emulator.stop()
            self._restore_signals(previous)
            emulator_logger.removeHandler(handler)
            emulator_logger.level, emulator_logger.propagate = saved_logger
        for emulator in started:
            counts = ", ".join(f"{n} {c}" for n, c in sorted(emulator.counts.items()))
            self.stdout.write(f"Receiver stopped; frames: {counts or 'none'} ({emulator.protocol})")

    def _ssl_context(self, cert: str | None, key: str | None) -> ssl.SSLContext | None:
        if not cert and not key:
            return None
        if not cert or not key:
            raise CommandError("--tls-cert and --tls-key go together")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise CommandError(f"cannot load the TLS certificate: {exc}") from None
        return context

    def _log_to_stdout(self, emulator_logger: logging.Logger) -> logging.Handler:
        handler = logging.StreamHandler(self.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        emulator_logger.addHandler(handler)
        emulator_logger.setLevel(logging.INFO)
        emulator_logger.propagate = False
        return handler

    def _on_signals(self, stop: threading.Event) -> dict[int, Any]:
        # Signal handlers can only be set from the main thread (not so under some test runners).
        if threading.current_thread() is not threading.main_thread():
            return {}

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, request_stop)
        return previous

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
