# hvlab's GDB commands: a look at a running monitor in the lab's own terms.
#
#   hv-vcpu          the virtual CPU: registers, virtual EFLAGS (IF, IOPL decoded), CRn, GDTR/IDTR
#   hv-trace [N]     the last N events the run loop handled (default 10)
#   hv-pt ADDR       guest-linear ADDR through the guest's page tables, then through the
#                    hardware's second level (lab01's shadow directory, lab04's EPT or nested table)
#   hv-vmcs          lab04: the VMCB fields by name (AMD-V; a VMCS is only readable with VMREAD)
#   hv-symbols guest|monitor   which image's symbols GDB holds at the low addresses
#
# autograder/gdb loads this file. Everything is read from the monitor's debug state
# (common/vmm/debug.hpp, hvlab::vmm::g_debug) in host-physical memory: under QEMU through its
# physical-memory mode, so the commands work wherever the CPU stopped (monitor or guest).
#
# A lab adds its own command with a function and the @command decorator, e.g.
#
#   @command("hv-tc", "ADDR: the translation of guest address ADDR", labs=("lab02",))
#   def hv_tc(state, arg):
#       ...   # state.load(address, type), state.read_u32(phys), state.lab, state.vcpu()
#
# A command whose lab is not in the running image says so and does nothing else.

import struct

import gdb

_COMMANDS = {}
_config = {"lab": None, "monitor": None, "guest": None, "low": "monitor"}
# Where the monitor's symbols wait while the guest's are at the low addresses (hv-symbols).
_PARKED = 0xF0000000


class HvError(Exception):
    """A message for the student: printed as is, without a Python backtrace."""


def command(name, summary, labs=None):
    """Registers fn(state, arg) as GDB command `name`; `labs`: the labs it needs (None: any)."""

    def wrap(fn):
        class _Cmd(gdb.Command):
            __doc__ = summary

            def __init__(self):
                super().__init__(name, gdb.COMMAND_USER)

            def invoke(self, arg, from_tty):
                try:
                    state = State()
                    if labs and state.lab not in labs:
                        raise HvError("%s needs %s; the running image is %s's monitor" %
                                      (name, " or ".join(labs), state.lab))
                    fn(state, arg.strip())
                except HvError as e:
                    print("%s: %s" % (name, e))

        _COMMANDS[name] = _Cmd()
        return fn

    return wrap


# ---- Memory ---------------------------------------------------------------------------------

def _qemu_phys_mode(on):
    """True if QEMU switched its memory accesses to physical (on) or back (off)."""
    try:
        out = gdb.execute("maint packet Qqemu.PhyMemMode:%d" % (1 if on else 0), to_string=True)
    except gdb.error:
        return False
    return '"OK"' in out


def read_phys(addr, length):
    """`length` bytes of host-physical memory at `addr`."""
    inf = gdb.selected_inferior()
    phys = _qemu_phys_mode(True)
    try:
        gdb.execute("maint flush dcache", to_string=True)
        try:
            return bytes(inf.read_memory(addr, length))
        except gdb.MemoryError:
            raise HvError("cannot read host-physical %#x (%d bytes)" % (addr, length))
    finally:
        if phys:
            _qemu_phys_mode(False)
            gdb.execute("maint flush dcache", to_string=True)


class State:
    """The monitor's debug state, read once per command."""

    def __init__(self):
        sym = gdb.lookup_global_symbol("hvlab::vmm::g_debug")
        if sym is None:
            raise HvError("the running image has no hvlab monitor (LAB=native boots the guest alone)")
        self.type = sym.type
        self.addr = int(sym.value().address)
        if _config["low"] == "guest":
            self.addr -= _PARKED
        self.d = self.load(self.addr, self.type)
        if int(self.d["magic"]) != 0x64767668:
            raise HvError("the monitor's debug state is not initialised yet (stopped before its constructors ran)")
        self.lab = self.string(int(self.d["lab"])) or None
        if self.lab is None:
            raise HvError("the monitor has not started its guest yet (vmm::run not reached): "
                          "break in a handler, e.g. `break lab01_trap` or `break hvlab::vmm::Dispatcher::dispatch`")

    def load(self, addr, type_):
        return gdb.Value(read_phys(addr, type_.sizeof), type_)

    def string(self, addr, limit=64):
        if addr == 0:
            return ""
        raw = read_phys(addr, limit)
        return raw.split(b"\0", 1)[0].decode("latin-1")

    def read_u32(self, addr):
        return struct.unpack("<I", read_phys(addr, 4))[0]

    def read_u64(self, addr):
        return struct.unpack("<Q", read_phys(addr, 8))[0]

    def machine(self):
        ptr = self.d["machine"]
        if int(ptr) == 0:
            raise HvError("the monitor has not started its guest yet")
        return self.load(int(ptr), ptr.type.target())

    def vcpu(self):
        return self.machine()["vcpu_"]

    def guest_phys(self, gpa):
        """Host-physical address of guest-physical `gpa` (the guest's RAM is one run)."""
        if gpa >= int(self.d["ram_bytes"]):
            raise HvError("guest-physical %#x is beyond the guest's RAM (%#x bytes)" % (gpa, int(self.d["ram_bytes"])))
        return int(self.d["ram_host_phys"]) + gpa


def enum_name(v):
    return str(v).split("::")[-1]


# ---- hv-vcpu --------------------------------------------------------------------------------

_EFLAGS = [(0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (10, "DF"), (11, "OF"),
           (14, "NT"), (16, "RF"), (17, "VM"), (18, "AC"), (19, "VIF"), (20, "VIP"), (21, "ID")]


def describe_eflags(v):
    flags = [n for bit, n in _EFLAGS if v & (1 << bit)]
    return "%08x [%s] IF=%d (virtual interrupts %s) IOPL=%d" % (
        v, " ".join(flags), (v >> 9) & 1, "enabled" if v & 0x200 else "disabled", (v >> 12) & 3)


@command("hv-vcpu", "The virtual CPU: registers, virtual EFLAGS, control registers, GDTR and IDTR.")
def hv_vcpu(state, arg):
    v = state.vcpu()
    r = v["regs"]
    u = lambda x: int(x) & 0xFFFFFFFF
    print("vcpu (%s): eip %08x  cpl %d  %s" % (state.lab, u(v["eip"]), int(v["cpl"]),
                                              "halted" if bool(v["halted"]) else "running"))
    print("  eax %08x ebx %08x ecx %08x edx %08x" % (u(r["eax"]), u(r["ebx"]), u(r["ecx"]), u(r["edx"])))
    print("  esi %08x edi %08x ebp %08x esp %08x" % (u(r["esi"]), u(r["edi"]), u(r["ebp"]), u(r["esp"])))
    print("  cs %04x ss %04x ds %04x es %04x fs %04x gs %04x" %
          tuple(int(v[s]) for s in ("cs", "ss", "ds", "es", "fs", "gs")))
    print("  eflags " + describe_eflags(u(v["eflags"])))
    print("  interrupt shadow %s" % ("yes" if bool(v["interrupt_shadow"]) else "no"))
    cr0 = u(v["cr0"])
    print("  cr0 %08x [PE=%d WP=%d PG=%d] cr2 %08x cr3 %08x cr4 %08x [PSE=%d PAE=%d]" % (
        cr0, cr0 & 1, (cr0 >> 16) & 1, (cr0 >> 31) & 1, u(v["cr2"]), u(v["cr3"]), u(v["cr4"]),
        (u(v["cr4"]) >> 4) & 1, (u(v["cr4"]) >> 5) & 1))
    g, i = v["gdtr"], v["idtr"]
    print("  gdtr %08x/%04x idtr %08x/%04x ldtr %04x tr %04x" % (
        u(g["base"]), int(g["limit"]), u(i["base"]), int(i["limit"]), int(v["ldtr"]), int(v["tr"])))
    print("  instructions emulated %d" % int(v["instructions_emulated"]))


# ---- hv-trace -------------------------------------------------------------------------------

@command("hv-trace", "[N]: the last N events the monitor handled (default 10), oldest first.")
def hv_trace(state, arg):
    try:
        n = int(arg, 0) if arg else 10
    except ValueError:
        raise HvError("N must be a number, not '%s'" % arg)
    ring = state.d["ring"]
    size = ring.type.range()[1] + 1
    total = int(state.d["events"])
    n = max(0, min(n, size, total))
    print("last %d of %d events (%s):" % (n, total, state.lab))
    for k in range(total - n, total):
        e = ring[k % size]
        mnem = state.string(int(e["mnemonic"]), 24) if int(e["mnemonic"]) else ""
        print("  #%-7d %-24s %-8s eip %08x number %-8x raw %x/%x %s" % (
            int(e["seq"]), enum_name(e["reason"]), enum_name(e["action"]), int(e["guest_eip"]) & 0xFFFFFFFF,
            int(e["number"]), int(e["raw_reason"]), int(e["raw_qualification"]), mnem))


# ---- hv-pt ----------------------------------------------------------------------------------

def _bits32(e):
    return "%s%s%s%s" % ("P" if e & 1 else "-", "W" if e & 2 else "r", "U" if e & 4 else "s",
                         " PS" if e & 0x80 else "")


def walk32(read, root, la, pse, label):
    """A 32-bit walk of `la` from directory `root` (physical); returns the final physical address."""
    pde_at = (root & ~0xFFF) + ((la >> 22) << 2)
    pde = read(pde_at)
    print("  %s PDE[%3d] at %08x = %08x %s" % (label, la >> 22, pde_at, pde, _bits32(pde)))
    if not pde & 1:
        return None
    if pde & 0x80 and pse:
        return (pde & 0xFFC00000) | (la & 0x3FFFFF)
    pte_at = (pde & ~0xFFF) + (((la >> 12) & 0x3FF) << 2)
    pte = read(pte_at)
    print("  %s PTE[%3d] at %08x = %08x %s" % (label, (la >> 12) & 0x3FF, pte_at, pte, _bits32(pte)))
    if not pte & 1:
        return None
    return (pte & ~0xFFF) | (la & 0xFFF)


def walk_pae(read64, root, la, label):
    mask = 0x000FFFFFFFFFF000
    pdpte_at = (root & ~0x1F) + ((la >> 30) << 3)
    pdpte = read64(pdpte_at)
    print("  %s PDPTE[%d] at %x = %016x" % (label, la >> 30, pdpte_at, pdpte))
    if not pdpte & 1:
        return None
    pde_at = (pdpte & mask) + (((la >> 21) & 0x1FF) << 3)
    pde = read64(pde_at)
    print("  %s PDE[%3d] at %x = %016x %s" % (label, (la >> 21) & 0x1FF, pde_at, pde, _bits32(pde)))
    if not pde & 1:
        return None
    if pde & 0x80:
        return (pde & 0x000FFFFFFFE00000) | (la & 0x1FFFFF)
    pte_at = (pde & mask) + (((la >> 12) & 0x1FF) << 3)
    pte = read64(pte_at)
    print("  %s PTE[%3d] at %x = %016x %s" % (label, (la >> 12) & 0x1FF, pte_at, pte, _bits32(pte)))
    if not pte & 1:
        return None
    return (pte & mask) | (la & 0xFFF)


def walk_ept(read64, root, gpa):
    mask = 0x000FFFFFFFFFF000
    table = root & mask
    for level, shift, name in ((4, 39, "PML4E"), (3, 30, "PDPTE"), (2, 21, "PDE"), (1, 12, "PTE")):
        at = table + (((gpa >> shift) & 0x1FF) << 3)
        e = read64(at)
        rights = "%s%s%s" % ("R" if e & 1 else "-", "W" if e & 2 else "-", "X" if e & 4 else "-")
        print("  EPT %s[%3d] at %x = %016x %s%s" % (name, (gpa >> shift) & 0x1FF, at, e, rights,
                                                     " large" if e & 0x80 and level in (2, 3) else ""))
        if not e & 7:
            return None
        if level in (2, 3) and e & 0x80:
            return (e & mask & ~((1 << shift) - 1)) | (gpa & ((1 << shift) - 1))
        table = e & mask
    return table | (gpa & 0xFFF)


@command("hv-pt", "ADDR: guest-linear ADDR through the guest's page tables and the hardware's second level.")
def hv_pt(state, arg):
    if not arg:
        raise HvError("usage: hv-pt ADDR (a guest-linear address)")
    try:
        la = int(gdb.parse_and_eval(arg)) & 0xFFFFFFFF
    except gdb.error as e:
        raise HvError("'%s' is not an address: %s" % (arg, e))
    v = state.vcpu()
    cr0, cr3, cr4 = (int(v[c]) & 0xFFFFFFFF for c in ("cr0", "cr3", "cr4"))
    print("guest-linear %08x (%s):" % (la, state.lab))
    guest_read32 = lambda gpa: state.read_u32(state.guest_phys(gpa))
    guest_read64 = lambda gpa: state.read_u64(state.guest_phys(gpa))
    if not cr0 & 0x80000000:
        print("  guest paging off (CR0.PG=0): guest-physical = linear")
        gpa = la
    elif cr4 & 0x20:
        gpa = walk_pae(guest_read64, cr3, la, "guest")
    else:
        gpa = walk32(guest_read32, cr3, la, bool(cr4 & 0x10), "guest")
    if gpa is None:
        print("  => not present in the guest's tables: the guest itself gets a #PF")
    else:
        print("  => guest-physical %08x, host-physical %08x" % (gpa, state.guest_phys(gpa)))
    kind = enum_name(state.d["second_level"])
    root = int(state.d["second_level_root"])
    if kind == "shadow32":
        host = walk32(state.read_u32, root, la, True, "shadow")
        if host is None:
            print("  => not in the shadow directory (filled on the guest's next access)")
        else:
            print("  => shadow maps it to host-physical %08x" % host)
            if gpa is None:
                print("  MISMATCH: the guest's tables map nothing here: a stale shadow entry")
            elif host != state.guest_phys(gpa):
                print("  MISMATCH: the guest's tables say host-physical %08x: a stale shadow entry"
                      % state.guest_phys(gpa))
            else:
                print("  shadow and guest agree")
    elif kind in ("ept", "npt_pae", "npt32") and gpa is not None:
        r64 = state.read_u64
        host = walk_ept(r64, root, gpa) if kind == "ept" else (
            walk_pae(r64, root, gpa, "nested") if kind == "npt_pae" else walk32(state.read_u32, root, gpa, True, "nested"))
        if host is None:
            print("  => not mapped by the %s: the guest's access exits (EPT violation / #NPF)" % kind)
        else:
            print("  => %s maps it to host-physical %08x%s" % (
                kind, host, "" if host == state.guest_phys(gpa) else
                " MISMATCH: the guest's RAM is at host-physical %08x" % state.guest_phys(gpa)))
    elif kind == "none":
        print("  (no second-level tables noted by this monitor)")


# ---- hv-vmcs --------------------------------------------------------------------------------

_VMCB_CONTROL = [("intercept CR", 0x000, 4), ("intercept exceptions", 0x008, 4), ("intercept misc1", 0x00C, 4),
                 ("intercept misc2", 0x010, 4), ("IOPM_BASE_PA", 0x040, 8), ("MSRPM_BASE_PA", 0x048, 8),
                 ("TSC_OFFSET", 0x050, 8), ("guest ASID", 0x058, 4), ("TLB_CONTROL", 0x05C, 1),
                 ("V_INTR (V_TPR, V_IRQ, V_INTR_MASKING)", 0x060, 4), ("INTERRUPT_SHADOW", 0x068, 1),
                 ("EXITCODE", 0x070, 8), ("EXITINFO1", 0x078, 8), ("EXITINFO2", 0x080, 8),
                 ("EXITINTINFO", 0x088, 8), ("NP_ENABLE", 0x090, 1), ("EVENTINJ", 0x0A8, 8), ("N_CR3", 0x0B0, 8)]
_VMCB_SAVE = [("CPL", 0x4CB, 1), ("EFER", 0x4D0, 8), ("CR0", 0x558, 8), ("CR2", 0x640, 8), ("CR3", 0x550, 8),
              ("CR4", 0x548, 8), ("DR6", 0x568, 8), ("DR7", 0x560, 8), ("RFLAGS", 0x570, 8), ("RIP", 0x578, 8),
              ("RSP", 0x5D8, 8), ("RAX", 0x5F8, 8)]
_VMCB_SEGMENTS = [("ES", 0x400), ("CS", 0x410), ("SS", 0x420), ("DS", 0x430), ("FS", 0x440), ("GS", 0x450),
                  ("GDTR", 0x460), ("LDTR", 0x470), ("IDTR", 0x480), ("TR", 0x490)]
_SVM_EXITS = {0x60: "INTR", 0x64: "VINTR", 0x72: "CPUID", 0x76: "INVD", 0x78: "HLT", 0x7B: "IOIO", 0x7C: "MSR",
              0x7F: "SHUTDOWN", 0x80: "VMRUN", 0x81: "VMMCALL", 0x89: "WBINVD", 0x8D: "XSETBV", 0x400: "NPF",
              0xFFFFFFFFFFFFFFFF: "INVALID"}


@command("hv-vmcs", "lab04: the VMCB's fields by name (AMD-V), or where the VMCS is (VT-x).", labs=("lab04",))
def hv_vmcs(state, arg):
    kind = enum_name(state.d["control_block"])
    at = int(state.d["control_block_phys"])
    if kind == "vmcs":
        raise HvError("the VMCS at host-physical %#x is in the processor's own format (only VMREAD reads it); "
                      "lab04's VT-x back end runs under Bochs: `make gdb LAB=lab04 EMU=bochs`, or "
                      "`p hvlab::lab04::vmx::field_name` with the handlers' copies in hv-vcpu" % at)
    if kind != "vmcb":
        raise HvError("the monitor has not set up its VMCB or VMCS yet")
    raw = read_phys(at, 4096)
    val = lambda off, n: int.from_bytes(raw[off:off + n], "little")
    print("VMCB at host-physical %08x (AMD APM vol. 2, appendix B)" % at)
    print(" control area:")
    for name, off, n in _VMCB_CONTROL:
        v = val(off, n)
        extra = ""
        if name == "EXITCODE":
            extra = " (%s)" % _SVM_EXITS.get(v, "see APM table C-1")
        elif name.startswith("V_INTR"):
            extra = " (V_TPR=%d V_IRQ=%d V_INTR_MASKING=%d)" % (v & 0xF, (v >> 8) & 1, (v >> 24) & 1)
        print("  %-40s %#x%s" % (name, v, extra))
    print(" state-save area:")
    for name, off in _VMCB_SEGMENTS:
        print("  %-6s selector %04x attrib %04x limit %08x base %08x" % (
            name, val(off, 2), val(off + 2, 2), val(off + 4, 4), val(off + 8, 8)))
    for name, off, n in _VMCB_SAVE:
        v = val(off, n)
        print("  %-6s %#x%s" % (name, v, "  " + describe_eflags(v) if name == "RFLAGS" else ""))


# ---- Symbols --------------------------------------------------------------------------------

class _Symbols(gdb.Command):
    """guest|monitor: which image's symbols GDB holds at the low addresses (both are linked at 1 MiB)."""

    def __init__(self):
        super().__init__("hv-symbols", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        want = arg.strip()
        if want not in ("guest", "monitor"):
            print("hv-symbols: say `hv-symbols guest` or `hv-symbols monitor` (now: %s)" % _config["low"])
            return
        path = _config[want]
        if not path or not _config["monitor"]:
            print("hv-symbols: this session has no monitor: the guest's symbols are the only ones")
            return
        if want == _config["low"]:
            print("hv-symbols: the %s's symbols are loaded already" % want)
            return
        # The monitor's symbols stay loaded, parked at +_PARKED while the guest's hold the low
        # addresses, so the hv-* commands still find its debug state and types.
        mon = _config["monitor"]
        try:
            if want == "guest":
                gdb.execute("remove-symbol-file %s" % _low_text(mon), to_string=True)
                gdb.execute("add-symbol-file %s" % path, to_string=True)
                gdb.execute("add-symbol-file %s -o %#x" % (mon, _PARKED), to_string=True)
            else:
                gdb.execute("remove-symbol-file %s" % _low_text(mon, _PARKED), to_string=True)
                gdb.execute("remove-symbol-file %s" % _low_text(_config["guest"]), to_string=True)
                gdb.execute("add-symbol-file %s" % mon, to_string=True)
        except (gdb.error, HvError) as e:
            print("hv-symbols: %s" % e)
            return
        _config["low"] = want
        print("hv-symbols: the %s's symbols at its link addresses" % want)


def _low_text(path, offset=0):
    """remove-symbol-file's argument for the copy of `path` loaded at its link addresses + offset."""
    import subprocess
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.replace("[ ", "[").split()
        if len(parts) > 3 and parts[1] == ".text":
            return "-a %#x" % (int(parts[3], 16) + offset)
    raise HvError("no .text in %s" % path)


def _condition_for_ring(bp):
    """lab01: monitor (CPL 0) and guest (CPL 1, 3) share linear addresses below 0xF0000000; a
    breakpoint set on the monitor's symbols stops only at CPL 0, one on the guest's at CPL > 0."""
    if _config["lab"] != "lab01" or bp.type != gdb.BP_BREAKPOINT or bp.condition:
        return
    bp.condition = "($cs & 3) == 0" if _config["low"] == "monitor" else "($cs & 3) != 0"


def configure(lab=None, monitor=None, guest=None):
    """Called by autograder/gdb with what it loaded: the monitor's image (None for a bare
    guest) at its link addresses, and the guest's image for hv-symbols."""
    _config.update(lab=lab, monitor=monitor, guest=guest, low="monitor")


_Symbols()
gdb.events.breakpoint_created.connect(_condition_for_ring)


def connect(port, seconds=20):
    """`target remote` to QEMU's stub, retried while the runner starts QEMU."""
    import time
    deadline = time.time() + seconds
    while True:
        try:
            gdb.execute("target remote 127.0.0.1:%d" % port)
            return
        except gdb.error:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def _end_machine(event):
    """Quitting GDB ends the session: the machine stops with it (it would run on detached)."""
    try:
        if gdb.selected_inferior().pid != 0:
            gdb.execute("kill", to_string=True)
    except gdb.error:
        pass


gdb.events.gdb_exiting.connect(_end_machine)
