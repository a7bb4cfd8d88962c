# A user probe for non_utf8_test.py: SIGBUS past EOF of a file whose name is
# not UTF-8 (byte 0xff), so the fault's region path is not UTF-8.
import ctypes, os, tempfile
d = tempfile.mkdtemp()
path = os.path.join(d.encode(), b"\xff-not-utf8")
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b"x" * 100)
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
a = libc.mmap(None, 8192, 1, 2, fd, 0)  # PROT_READ, MAP_PRIVATE, two pages of a 100-byte file
os.write(1, b"target 0x%x\n" % (a + 4096))
ctypes.string_at(a + 4096, 1)  # past EOF: SIGBUS
