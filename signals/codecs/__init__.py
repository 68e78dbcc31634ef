"""The receiver protocols the portal speaks, one module each, behind one seam (``base``).

The rest of the portal asks this registry by ``stations.Receiver.Protocol`` value and never
names a protocol: ``codec_for(receiver.protocol)``. Adding a protocol is a new module here with
a ``Codec`` subclass and one ``register(...)`` line below.
"""

from __future__ import annotations

from signals.codecs.base import Codec

_CODECS: dict[str, Codec] = {}


def register(codec: Codec) -> Codec:
    _CODECS[codec.protocol] = codec
    return codec


def codec_for(protocol: str) -> Codec | None:
    """The codec of a receiver protocol; None for one the portal cannot speak."""
    return _CODECS.get(protocol)


def all_codecs() -> list[Codec]:
    return list(_CODECS.values())


def _register_all() -> None:
    from signals.codecs.sia_dc09 import SiaDc09Codec
    from signals.codecs.sos_access_v4 import SosAccessCodec
    from signals.codecs.xml_v1 import XmlV1Codec

    register(XmlV1Codec())
    register(SiaDc09Codec())
    register(SosAccessCodec())


_register_all()
