"""Where a record was made: the CPU's vendor, family, model and instruction-set level, and TensorFlow."""

from __future__ import annotations

import dataclasses

import pytest

from qaplib.platform import Platform, current_platform, isa_level, platform_from, same_kind

EPYC = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 23
model		: 1
model name	: AMD EPYC
flags		: fpu sse sse2 ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt xsave avx f16c lahf_lm abm bmi1 avx2 bmi2

processor	: 1
vendor_id	: AuthenticAMD
cpu family	: 99
"""
XEON_FLAGS = ("ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt xsave avx f16c lahf_lm abm bmi1 avx2 bmi2 avx512f avx512bw "
              "avx512cd avx512dq avx512vl")  # fmt: skip


def test_a_platform_is_read_from_the_first_processor_of_cpuinfo():
    platform = platform_from(EPYC, "x86_64", "2.15.1")
    assert platform == Platform("x86_64", "AuthenticAMD", "AMD EPYC", "23", "1", "x86-64-v3", False, "2.15.1")
    assert platform.describe() == "AMD EPYC (family 23, model 1; x86-64-v3, no AVX-512), TensorFlow 2.15.1"
    assert Platform.from_dict({**platform.to_dict(), "noted": "afterwards"}) == platform


@pytest.mark.parametrize(
    "flags, machine, level",
    [
        (XEON_FLAGS, "x86_64", "x86-64-v4"),
        (XEON_FLAGS.replace(" avx512vl", ""), "x86_64", "x86-64-v3"),  # AVX-512 without VL: not v4
        ("cx16 lahf_lm popcnt sse4_1 sse4_2 ssse3 avx", "x86_64", "x86-64-v2"),
        ("sse sse2", "x86_64", "x86-64"),
        ("", "aarch64", "aarch64"),
    ],
)
def test_the_instruction_set_level_is_the_highest_whose_flags_are_all_present(flags, machine, level):
    assert isa_level(set(flags.split()), machine) == level


def test_bit_identity_is_expected_only_on_the_same_kind():
    here = platform_from(EPYC, "x86_64", "2.15.1")
    assert same_kind(here, dataclasses.replace(here, cpu_model_name="AMD EPYC 7B13"))  # virtual machines name it freely
    for change in ({"avx512": True}, {"isa_level": "x86-64-v4"}, {"tensorflow": "2.16.1"}, {"cpu_model": "17"},
                   {"cpu_family": "25"}, {"cpu_vendor": "GenuineIntel"}, {"machine": "aarch64"}):  # fmt: skip
        assert not same_kind(here, dataclasses.replace(here, **change)), change


def test_a_malformed_platform_is_refused_with_its_fields_named():
    with pytest.raises(ValueError, match="has the fields"):
        Platform.from_dict({"machine": "x86_64"})
    with pytest.raises(ValueError, match="must be a mapping"):
        Platform.from_dict(["x86_64"])


def test_this_machine_is_described_and_new_records_carry_it():
    from qaplib.provenance import provenance

    here = current_platform()
    assert here.tensorflow != "absent" and here.machine
    assert provenance("nb", {})["platform"] == here.to_dict()
