"""Shared helpers of the code mapping and figure tests: a registration with a small
dictionary shaped like the simulated platform's (never the official tables)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ems.upload.models import DictionaryEntry, DictionaryVersion, UploadRegistration

# item, code, parent, name, unit, precision
ENTRIES: tuple[tuple[int, str, str, str, str | None, int | None], ...] = (
    (3, "00", "", "全厂", None, None),
    (3, "01", "", "烧结", None, None),
    (3, "02", "", "炼铁", None, None),
    (4, "01", "01", "1号烧结机", None, None),
    (17, "00", "", "非设备", None, None),
    (17, "01", "", "锅炉", None, None),
    (17, "02", "", "电动机", None, None),
    *((7, f"0{n}", "", f"type {n}", None, None) for n in range(1, 8)),
    (8, "0000", "", "综合能源消费量", "tce", 4),
    (8, "1200", "", "电力", "kWh", 2),
    (8, "0900", "", "天然气", "m3", 2),
    (8, "1300", "", "蒸汽", "t", 3),
    (9, "2100", "", "新水", "t", 2),
    (10, "3001", "", "粗钢", "t", 3),
    (11, "4001", "", "单位产品综合能耗", "kgce/t", 2),
    (12, "5001", "", "工业总产值", "万元", 2),
    (12, "5002", "", "工业增加值", "万元", 2),
    (14, "01", "", "购入量", None, None),
    (14, "02", "", "消费量", None, None),
    (14, "30", "", "产量", None, None),
    (14, "31", "", "产值", None, None),
)


def add_registration(
    session: Any, profile: str = "national", version: str | None = "3", **extra: Any
) -> UploadRegistration:
    """A registration; with ``version``, that dictionary version (complete) in use."""
    registration = UploadRegistration(
        profile=profile,
        base_url="https://provsim.invalid",
        enterprise_code="91530100MA6K1X2Y3A",
        region_code="530100",
        status="registered",
        dic_version=version,
        **extra,
    )
    session.add(registration)
    session.flush()
    if version is not None:
        add_dictionary(session, registration.id, version)
    return registration


def add_dictionary(session: Any, registration_id: int, version: str) -> None:
    session.add(
        DictionaryVersion(
            registration_id=registration_id,
            version=version,
            items=17,
            entries=len(ENTRIES),
            complete=True,
        )
    )
    session.flush()
    session.add_all(
        DictionaryEntry(
            registration_id=registration_id,
            version=version,
            item=item,
            code=code,
            parent=parent,
            name=name,
            unit=unit,
            precision=precision,
            coefficient=Decimal(1) if code == "0000" else None,
        )
        for item, code, parent, name, unit, precision in ENTRIES
    )
    session.flush()
