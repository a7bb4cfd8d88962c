"""Facts of the machine the tests run on, read, never assumed."""


def la57():
    """This machine runs 5-level page tables: the kernel clears the la57
    flag when it does not use them (arch/x86/kernel/cpu/common.c)."""
    with open("/proc/cpuinfo") as f:
        return any(l.startswith("flags") and " la57" in l for l in f)


def kind_above_47_bits():
    """What 0x800000000000 is here: user space with 5-level paging,
    non-canonical with 4-level (x86_64)."""
    return "unmapped" if la57() else "non-canonical"
