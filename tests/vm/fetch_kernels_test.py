#!/usr/bin/env python3
"""scripts/fetch-kernels.sh against a small Debian archive made here and
served over HTTP on 127.0.0.1 (python's http.server), so apt, dpkg-deb and
depmod do what they do with Debian's own archive, without the network. One
ctest test per case:

    fetch_kernels_test.py CASE --script scripts/fetch-kernels.sh

The archive: the machine's own codename (single kernel package, Debian 11-13
layout, newest version in CODENAME-updates), `oldcode` (newest in
oldcode-security), `sid` (Debian 14's split: linux-image-RELEASE is empty and
depends on linux-binary-, linux-modules- and linux-base-RELEASE; no -updates
or -security exist), `broken` (a kernel package without an image) and
`unserved` (newest listed in unserved-security, its .deb missing: 404).
APT_CONFIG points apt, and so scripts/apt-uris.sh, at sources naming it.
The packages hold fake images: what is checked is where each file lands,
which version is taken, what is printed, and what a rerun does.
"""

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
from casetest import check, main, skip  # noqa: E402

ARGS = None
ARCH = "amd64"


def codename():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("VERSION_CODENAME="):
                    return line.split("=", 1)[1].strip().strip('"') or "bookworm"
    except OSError:
        pass
    return "bookworm"  # scripts/apt-uris.sh's default too


def make_deb(pool, name, version, files, depends=""):
    """A .deb of NAME VERSION holding FILES ({path: text}) in POOL."""
    root = tempfile.mkdtemp(dir=pool)
    os.mkdir(os.path.join(root, "DEBIAN"))
    with open(os.path.join(root, "DEBIAN", "control"), "w") as f:
        f.write(f"Package: {name}\nVersion: {version}\nArchitecture: {ARCH}\n"
                f"Maintainer: vmakit tests <tests@vmakit.invalid>\n"
                + (f"Depends: {depends}\n" if depends else "")
                + f"Description: {name} for fetch-kernels tests\n")
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if text is None:
            os.makedirs(full, exist_ok=True)
        else:
            with open(full, "w") as f:
                f.write(text)
    out = os.path.join(pool, f"{name}_{version}_{ARCH}.deb")
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", root, out],
                   check=True, capture_output=True)
    shutil.rmtree(root)
    return out


def single(release, version):
    """Debian 11-13: one linux-image-RELEASE with boot/ and lib/modules/."""
    return [("linux-image-" + release, version,
             {f"boot/vmlinuz-{release}": f"image {release} {version}\n",
              f"boot/config-{release}": "CONFIG_X86_64=y\n",
              f"lib/modules/{release}/kernel/": None, f"lib/modules/{release}/modules.order": "",
              f"lib/modules/{release}/modules.builtin": "", f"lib/modules/{release}/modules.builtin.modinfo": ""}, "")]


def split(release, version):
    """Debian 14: linux-image-RELEASE empty, the rest in three packages."""
    mods = f"usr/lib/modules/{release}"
    return [
        ("linux-image-" + release, version, {f"usr/share/doc/linux-image-{release}/": None},
         f"initramfs-tools | linux-initramfs-tool, linux-base-{release} (= {version}), "
         f"linux-binary-{release} (= {version}), linux-modules-{release} (= {version})"),
        ("linux-binary-" + release, version, {f"{mods}/vmlinuz": f"image {release}\n"},
         f"linux-base-{release} (= {version})"),
        ("linux-modules-" + release, version, {f"{mods}/kernel/": None}, f"kmod, linux-base-{release} (= {version})"),
        ("linux-base-" + release, version, {f"{mods}/config": "CONFIG_X86_64=y\n", f"{mods}/modules.order": "",
                                                 f"{mods}/modules.builtin": "", f"{mods}/modules.builtin.modinfo": ""}, ""),
    ]


def meta(release, version):
    return (f"linux-image-{ARCH}", version, {}, f"linux-image-{release} (= {version})")


class Archive:
    """dists/ and pool/ under ROOT/debian and ROOT/debian-security."""

    def __init__(self, root):
        self.root = root

    def suite(self, area, suite, packages):
        pool = os.path.join(self.root, area, "pool", suite)
        os.makedirs(pool, exist_ok=True)
        for name, version, files, depends in packages:
            make_deb(pool, name, version, files, depends)
        bdir = os.path.join(self.root, area, "dists", suite, "main", f"binary-{ARCH}")
        os.makedirs(bdir, exist_ok=True)
        scan = subprocess.run(["dpkg-scanpackages", "--multiversion", "-a", ARCH, f"pool/{suite}", "/dev/null"],
                              cwd=os.path.join(self.root, area), check=True, capture_output=True)
        with open(os.path.join(bdir, "Packages"), "wb") as f:
            f.write(scan.stdout)
        digest = hashlib.sha256(scan.stdout).hexdigest()
        date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime())
        with open(os.path.join(self.root, area, "dists", suite, "Release"), "w") as f:
            f.write(f"Origin: vmakit-test\nSuite: {suite}\nCodename: {suite}\nDate: {date}\n"
                    f"Architectures: {ARCH}\nComponents: main\nSHA256:\n"
                    f" {digest} {len(scan.stdout)} main/binary-{ARCH}/Packages\n")

    def release(self, suite, base, updates=(), security=()):
        """SUITE, SUITE-updates and SUITE-security, as Debian has them."""
        self.suite("debian", suite, base)
        self.suite("debian", suite + "-updates", updates)
        self.suite("debian-security", suite + "-security", security)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Setup:
    """The archive, its server, the apt configuration naming it, a kernels DIR."""

    def __init__(self):
        for tool in ("apt-get", "dpkg-deb", "dpkg-scanpackages"):
            if not shutil.which(tool):
                skip(f"{tool} not installed (Debian apt, dpkg-dev)")
        self.tmp = tempfile.mkdtemp(prefix="vmakit-fetch-test-")
        self.code = codename()
        self.archive = Archive(os.path.join(self.tmp, "archive"))
        handler = functools.partial(Quiet, directory=self.archive.root)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        uri = f"http://127.0.0.1:{self.server.server_address[1]}"
        os.makedirs(os.path.join(self.tmp, "sources.list.d"))
        with open(os.path.join(self.tmp, "sources.list"), "w") as f:
            f.write(f"deb {uri}/debian {self.code} main\n"
                    f"deb {uri}/debian-security {self.code}-security main\n")
        self.apt_config = os.path.join(self.tmp, "apt.conf")
        with open(self.apt_config, "w") as f:
            f.write(f'Dir::Etc::sourcelist "{self.tmp}/sources.list";\n'
                    f'Dir::Etc::sourceparts "{self.tmp}/sources.list.d";\n'
                    # The archive here is not signed.
                    'Acquire::AllowInsecureRepositories "true";\n'
                    'APT::Get::AllowUnauthenticated "true";\n'
                    'Acquire::http::Proxy "DIRECT";\n')
        self.kernels = os.path.join(self.tmp, "kernels")

    def run(self, suites, *extra):
        env = dict(os.environ, APT_CONFIG=self.apt_config, SUITES=suites)
        p = subprocess.run(["bash", ARGS.script, "--arch", ARCH, *extra, self.kernels],
                           capture_output=True, text=True, env=env, timeout=300)
        print(f"$ SUITES={suites!r} fetch-kernels.sh --arch {ARCH}: exit {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def close(self):
        self.server.shutdown()
        shutil.rmtree(self.tmp)


def with_setup(fn):
    @functools.wraps(fn)
    def case():
        s = Setup()
        try:
            fn(s)
        finally:
            s.close()
    return case


def debs_state(kernels):
    d = os.path.join(kernels, ".debs")
    return {n: os.stat(os.path.join(d, n)).st_mtime_ns for n in os.listdir(d)}


@with_setup
def case_layouts(s):
    """Both layouts unpacked where the harness looks; -updates and -security
    read; sid's missing -updates/-security not asked for; a rerun fetches
    nothing."""
    code = s.code
    s.archive.release(code, [meta("1.0-1-amd64", "1.0-1")] + single("1.0-1-amd64", "1.0-1"),
                      updates=[meta("1.0-2-amd64", "1.0-2")] + single("1.0-2-amd64", "1.0-2"))
    s.archive.release("oldcode", [meta("0.9-1-amd64", "0.9-1")] + single("0.9-1-amd64", "0.9-1"),
                      security=[meta("0.9-3-amd64", "0.9-3")] + single("0.9-3-amd64", "0.9-3"))
    s.archive.suite("debian", "sid", [meta("2.0+deb14-amd64", "2.0-1")] + split("2.0+deb14-amd64", "2.0-1"))
    p = s.run(f"{code} oldcode sid")
    check(p.returncode == 0, f"exit {p.returncode}")
    k = s.kernels
    want = {
        f"{code}-amd64": ("linux-image-1.0-2-amd64", "boot/vmlinuz-1.0-2-amd64", "boot/config-1.0-2-amd64",
                          "lib/modules/1.0-2-amd64"),
        "oldcode-amd64": ("linux-image-0.9-3-amd64", "boot/vmlinuz-0.9-3-amd64", "boot/config-0.9-3-amd64",
                          "lib/modules/0.9-3-amd64"),
        "sid-amd64": ("linux-image-2.0+deb14-amd64", "usr/lib/modules/2.0+deb14-amd64/vmlinuz",
                      "usr/lib/modules/2.0+deb14-amd64/config", "usr/lib/modules/2.0+deb14-amd64"),
    }
    for link, (pkg, image, config, mods) in want.items():
        check(os.readlink(os.path.join(k, link)) == pkg, f"{link} -> {os.readlink(os.path.join(k, link))}, wanted {pkg}")
        for path in (image, config, mods + "/modules.dep"):
            check(os.path.isfile(os.path.join(k, link, path)), f"{link}/{path} missing")
        line = f"{link}: {pkg} "
        check(line in p.stdout and f"image {image}, config {config}, modules {mods}" in p.stdout,
              f"no summary line for {link} with its image, config and modules")
    check("(linux-base-2.0+deb14-amd64 linux-binary-2.0+deb14-amd64 linux-modules-2.0+deb14-amd64)" in p.stdout,
          "sid's summary does not name the three packages it was split into")
    check(open(os.path.join(k, "sid-amd64", ".unpacked")).read() == "2.0-1\n", "sid's .unpacked")
    check(not [n for n in os.listdir(k) if n.endswith(".tmp") or n.endswith(".new")], f"leftovers: {os.listdir(k)}")
    with open(os.path.join(k, ".apt", "sid-amd64", "sources.list")) as f:
        check("-updates" not in f.read(), "sid's sources name an -updates suite")

    before = debs_state(k)
    p = s.run(f"{code} oldcode sid")
    check(p.returncode == 0, f"rerun: exit {p.returncode}")
    check("downloading" not in p.stderr and "apt-get update" not in p.stderr, "the rerun fetched something")
    check(debs_state(k) == before, "the rerun changed DIR/.debs")
    check(p.stdout.count("-amd64: linux-image-") == 3, "the rerun does not print the three kernels")


@with_setup
def case_failures(s):
    """Each failure is one line naming suite, package and step, exit 2, and
    leaves no link, no package directory and no .tmp; a killed run's .tmp
    and half-made link go on the next run."""
    s.archive.release("broken", [meta("3.0-1-amd64", "3.0-1"),
                                 ("linux-image-3.0-1-amd64", "3.0-1", {"usr/share/doc/x/": None}, "")])
    p = s.run("broken")
    check(p.returncode == 2, f"exit {p.returncode}")
    lines = [line for line in p.stderr.splitlines() if "failed" in line]
    check(len(lines) == 1 and lines[0].startswith("fetch-kernels: broken amd64: linux-image-3.0-1-amd64: unpack failed: "
                                                  "no kernel image"), f"failure lines {lines}")
    left = sorted(n for n in os.listdir(s.kernels) if not n.startswith("."))
    check(left == [], f"left behind: {left}")

    p = s.run("nonesuch")
    check(p.returncode == 2, f"exit {p.returncode}")
    check("fetch-kernels: nonesuch amd64: linux-image-amd64: update failed: apt-get update of " in p.stderr,
          "no update failure line")

    # What a run killed while unpacking leaves behind.
    os.makedirs(os.path.join(s.kernels, "linux-image-9-amd64.tmp", "boot"))
    os.symlink("linux-image-9-amd64", os.path.join(s.kernels, ".x-amd64.new"))
    s.archive.release("fine", [meta("4.0-1-amd64", "4.0-1")] + single("4.0-1-amd64", "4.0-1"))
    p = s.run("fine")
    check(p.returncode == 0, f"exit {p.returncode}")
    check(sorted(n for n in os.listdir(s.kernels) if n != ".lock") ==
          [".apt", ".debs", "fine-amd64", "linux-image-4.0-1-amd64"], f"kernels dir: {os.listdir(s.kernels)}")

    # A damaged .deb in DIR/.debs: the unpack fails, the .deb goes, the next
    # run downloads it again.
    deb = os.path.join(s.kernels, ".debs", f"linux-image-4.0-1-amd64_4.0-1_{ARCH}.deb")
    os.truncate(deb, os.path.getsize(deb) // 2)
    shutil.rmtree(os.path.join(s.kernels, "linux-image-4.0-1-amd64"))
    p = s.run("fine")
    check(p.returncode == 2, f"damaged .deb: exit {p.returncode}")
    check("fetch-kernels: fine amd64: linux-image-4.0-1-amd64: unpack failed: dpkg-deb -x " in p.stderr,
          "no unpack failure line")
    check(not os.path.exists(deb) and not os.path.exists(os.path.join(s.kernels, "linux-image-4.0-1-amd64.tmp")),
          "the damaged .deb or the .tmp is still there")
    p = s.run("fine")
    check(p.returncode == 0 and "downloading linux-image-4.0-1-amd64=4.0-1" in p.stderr, "not downloaded again")


@with_setup
def case_unserved(s):
    """A version the archive lists but answers 404 for: the next older one,
    said so; the rerun does not ask again."""
    s.archive.release("unserved", [meta("5.0-1-amd64", "5.0-1")] + single("5.0-1-amd64", "5.0-1"),
                      security=[meta("5.0-2-amd64", "5.0-2")] + single("5.0-2-amd64", "5.0-2"))
    os.remove(os.path.join(s.archive.root, "debian-security", "pool", "unserved-security",
                           f"linux-image-5.0-2-amd64_5.0-2_{ARCH}.deb"))
    p = s.run("unserved")
    check(p.returncode == 0, f"exit {p.returncode}")
    check("linux-image-5.0-2-amd64 5.0-2: listed, but the mirror does not serve it" in p.stderr, "no 404 line")
    check("unserved-amd64: linux-image-5.0-1-amd64 5.0-1 [older than 5.0-2, which the mirror does not serve]"
          in p.stdout, "no summary naming the version taken and the one not served")
    check(os.readlink(os.path.join(s.kernels, "unserved-amd64")) == "linux-image-5.0-1-amd64", "link")
    p = s.run("unserved")
    check(p.returncode == 0 and "downloading" not in p.stderr and "not served by the mirror (404 at the last try"
          in p.stderr, "the rerun asked for the unserved version again")


if __name__ == "__main__":
    sys.exit(main(globals(), ["script"]))
