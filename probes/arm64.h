/* arm64.h: what the arm64-only probes (mte-*, pac-auth, bti-landing,
 * tbi-read) share: hwcap bits, the MTE prctl and the CPU ID register read.
 * Header only, plain C; empty on other architectures. */
#ifndef VMAKIT_PROBE_ARM64_H
#define VMAKIT_PROBE_ARM64_H

#if defined(__aarch64__)
#include <sys/prctl.h>

/* arch/arm64/include/uapi/asm/hwcap.h */
#define PROBE_HWCAP_CPUID (1UL << 11)
#define PROBE_HWCAP_PACA (1UL << 30)
#define PROBE_HWCAP2_BTI (1UL << 17)
#define PROBE_HWCAP2_MTE (1UL << 18)
/* arch/arm64/include/uapi/asm/mman.h */
#define PROBE_PROT_BTI 0x10
#define PROBE_PROT_MTE 0x20
/* include/uapi/linux/prctl.h (Linux 5.10+) */
#ifndef PR_SET_TAGGED_ADDR_CTRL
#define PR_SET_TAGGED_ADDR_CTRL 55
#define PR_TAGGED_ADDR_ENABLE (1UL << 0)
#endif
#ifndef PR_MTE_TCF_SYNC
#define PR_MTE_TCF_SYNC (1UL << 1)
#define PR_MTE_TCF_ASYNC (1UL << 2)
#define PR_MTE_TAG_SHIFT 3
#endif

/* Tag byte of a user pointer (top-byte-ignore: bits 63:56). */
static inline uint64_t probe_with_tag(uint64_t p, unsigned tag) {
  return (p & ((1ULL << 56) - 1)) | ((uint64_t)tag << 56);
}

/* MTE on, with tag checks `tcf` (PR_MTE_TCF_SYNC or _ASYNC), or skip when the
 * CPU or kernel lacks it (Documentation/arch/arm64/memory-tagging-extension.rst). */
static inline void probe_mte_enable(unsigned long tcf) {
  if (!(getauxval(AT_HWCAP2) & PROBE_HWCAP2_MTE)) probe_skip("no MTE (AT_HWCAP2 lacks HWCAP2_MTE)");
  /* Tags 1..15 allowed for irg; the probes set their tags with stg. */
  unsigned long ctrl = PR_TAGGED_ADDR_ENABLE | tcf | (0xfffeUL << PR_MTE_TAG_SHIFT);
  if (prctl(PR_SET_TAGGED_ADDR_CTRL, ctrl, 0, 0, 0) != 0) probe_fail("prctl PR_SET_TAGGED_ADDR_CTRL", errno);
}

/* Sets the allocation tag of the 16-byte granule at p to p's logical tag. */
static inline void probe_mte_set_tag(uint64_t p) {
  __asm__ volatile(".arch armv8.5-a+memtag\n\tstg %0, [%0]" : : "r"(p) : "memory");
}

/* The mte-* probes' setup: a PROT_MTE page whose first granule gets
 * allocation tag 0x3, a store through a pointer with tag 0x3 (it must pass:
 * noted), and the same address with tag 0x5, which does not match. */
static inline uint64_t probe_mte_mismatched(void (*store)(volatile unsigned char *)) {
  unsigned char *p = probe_map(probe_page_size(), PROT_READ | PROT_WRITE | PROBE_PROT_MTE);
  uint64_t good = probe_with_tag((uintptr_t)p, 0x3);
  probe_mte_set_tag(good);
  store((volatile unsigned char *)good);
  probe_note("store with the matching tag 0x3 succeeded");
  return probe_with_tag((uintptr_t)p, 0x5);
}

/* ID_AA64ISAR1_EL1 as the kernel emulates it for EL0 (HWCAP_CPUID;
 * Documentation/arch/arm64/cpu-feature-registers.rst), or 0 without it. */
static inline uint64_t probe_id_aa64isar1(void) {
  if (!(getauxval(AT_HWCAP) & PROBE_HWCAP_CPUID)) return 0;
  uint64_t v;
  __asm__ volatile("mrs %0, ID_AA64ISAR1_EL1" : "=r"(v));
  return v;
}

/* FEAT_FPAC: APA (bits 7:4) or API (bits 11:8) of ID_AA64ISAR1_EL1 >= 0b0100.
 * Then a failed AUT* instruction traps itself instead of corrupting the
 * pointer. */
static inline int probe_has_fpac(void) {
  uint64_t isar1 = probe_id_aa64isar1();
  unsigned apa = (unsigned)(isar1 >> 4) & 0xf, api = (unsigned)(isar1 >> 8) & 0xf;
  return apa >= 4 || api >= 4;
}
#endif

#endif
