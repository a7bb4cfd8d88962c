# vmakit: the `vma` commands in every GDB (installed by the vmakit package in
# GDB's system gdbinit directory, /etc/gdb/gdbinit.d, read at start-up).
#
# Quiet when it cannot help: a GDB without Python (gdb-minimal) has no $_streq
# (a Python convenience function), so the block is skipped; after
# `apt-get remove vmakit` (this file stays until purge) the script is gone
# and nothing is sourced. A module built for another Python than GDB's is
# reported by `vma` itself when used, not at start-up.
if !$_isvoid($_streq)
  python
import os
if os.path.exists("@VMAKIT_GDB_SCRIPT@"):
    gdb.execute("source @VMAKIT_GDB_SCRIPT@")
end
end
