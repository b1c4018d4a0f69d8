# hvlab's GDB commands: a look at a running monitor in the lab's own terms.
#
#   hv-vcpu          the virtual CPU: registers, virtual EFLAGS (IF, IOPL decoded), CRn, GDTR/IDTR
#   hv-trace [N]     the last N events the run loop handled (default 10)
#   hv-pt ADDR       guest-linear ADDR through the guest's page tables, then through the
#                    hardware's second level (lab01's shadow directory, lab04's EPT or nested table)
#   hv-vmcs          lab04: the VMCB fields by name (AMD-V; a VMCS is only readable with VMREAD)
#   hv-tc ADDR       lab02: the translation of guest address ADDR: its block, cache code, chaining
#                    (or, for a cache address ffc00000 and up, the block that holds it)
#   hv-hcall [N]     lab03: the last N hypercalls with their arguments and results
#   hv-symbols guest|monitor   which image's symbols GDB holds at the low addresses
#
# autograder/gdb loads this file. Everything is read from the monitor's debug state
# (common/vmm/debug.hpp, hvlab::vmm::g_debug) in host-physical memory: under QEMU through its
# physical-memory mode, so the commands work wherever the CPU stopped (monitor or guest).
#
# A lab adds its own command with a function and the @command decorator, e.g.
#
#   @command("hv-foo", "ADDR: what lab02 knows of ADDR", labs=("lab02",))
#   def hv_foo(state, arg):
#       ...   # state.load(address, type), state.read_u32(phys), state.lab, state.vcpu()
#
# A command whose lab is not in the running image says so and does nothing else.

import struct

import gdb

_COMMANDS = {}
_config = {"lab": None, "monitor": None, "guest": None, "low": "monitor", "hosted": False}
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
        if _config["hosted"]:
            raise HvError("%s's VMM is a host process: its GDB stub shows the guest alone (info registers, "
                          "x, break, stepi); the VMM's own state is for gdb on the VMM process" % _config["lab"])
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


# ---- hv-tc ----------------------------------------------------------------------------------

def _member_offset(type_, name):
    """Byte offset of data member `name` in class type_, its base classes searched too."""
    t = type_.strip_typedefs()
    for f in t.fields():
        if f.name == name and not f.is_base_class:
            return f.bitpos // 8
    for f in t.fields():
        if f.is_base_class:
            o = _member_offset(f.type, name)
            if o is not None:
                return f.bitpos // 8 + o
    return None


def _base_offset(type_, base):
    """Byte offset of base class `base` (its qualified name) in class type_."""
    for f in type_.strip_typedefs().fields():
        if f.is_base_class:
            if f.type.strip_typedefs().name == base:
                return f.bitpos // 8
            o = _base_offset(f.type, base)
            if o is not None:
                return f.bitpos // 8 + o
    return None


def _lookup_type(name):
    try:
        return gdb.lookup_type(name)
    except gdb.error:
        raise HvError("the running image has no %s (not lab02's monitor?)" % name)


def disassemble_phys(addr, end=None, count=None):
    """GDB's disassembly of host-physical memory: [{'addr', 'asm', 'length'}], at most `count`."""
    arch = gdb.selected_inferior().architecture()
    phys = _qemu_phys_mode(True)
    try:
        gdb.execute("maint flush dcache", to_string=True)
        kw = {}
        if end is not None:
            kw["end_pc"] = end - 1
        if count is not None:
            kw["count"] = count
        try:
            return arch.disassemble(addr, **kw)
        except gdb.MemoryError:
            raise HvError("cannot read host-physical %#x" % addr)
    finally:
        if phys:
            _qemu_phys_mode(False)
            gdb.execute("maint flush dcache", to_string=True)


_BRANCH = ("j", "call", "loop")


def _retarget(text, to_own):
    """A branch's target in disassembly of physical memory, put back in the code's own terms."""
    import re
    if not text.split(" ", 1)[0].startswith(_BRANCH):
        return text
    text = re.sub(r" <[^>]*>$", "", text)
    return re.sub(r"0x[0-9a-f]+", lambda m: to_own(int(m.group(0), 16)), text)


class _Translator:
    """lab02's Translator, read field by field from host-physical memory (it is megabytes)."""

    def __init__(self, state):
        self.state = state
        machine = _lookup_type("hvlab::vmm::Machine")
        bt = _lookup_type("hvlab::lab02::BtBackend")
        self.t = _lookup_type("hvlab::lab02::Translator")
        self.block_t = _lookup_type("hvlab::lab02::Block")
        self.record_t = _lookup_type("hvlab::lab02::Record")
        self.exit_t = _lookup_type("hvlab::lab02::Exit")
        self.site_t = _lookup_type("hvlab::lab02::Site")
        backend = state.read_u32(int(state.d["machine"]) + _member_offset(machine, "backend_"))
        at = backend - _base_offset(bt, "hvlab::vmm::Backend")
        self.addr = state.read_u32(at + _member_offset(bt, "translator_"))
        self.code = self.u32("code_")
        self.used = self.u32("used_")
        self.nblocks = self.u32("nblocks_")
        self.nexits = self.u32("nexits_")
        try:
            self.lookup_bytes = int(gdb.parse_and_eval("hvlab::lab02::Translator::kLookupBytes"))
            self.lookup_entries = int(gdb.parse_and_eval("hvlab::lab02::Translator::kLookupEntries"))
        except gdb.error:
            self.lookup_entries = 8192  # per half: {guest EIP, cache offset} pairs, IF = 0 then IF = 1
            self.lookup_bytes = 2 * self.lookup_entries * 8
        self.lookup_cs = self.u32("lookup_cs_") & 0xFFFF
        self.cache_bytes = self.u32("bytes_")

    def u32(self, member):
        off = _member_offset(self.t, member)
        if self.t[member].type.sizeof == 2:
            return struct.unpack("<H", read_phys(self.addr + off, 2))[0]
        return self.state.read_u32(self.addr + off)

    def array(self, member, type_, first, n):
        if n == 0:
            return []
        at = self.addr + _member_offset(self.t, member) + first * type_.sizeof
        raw = read_phys(at, n * type_.sizeof)
        return [gdb.Value(raw[i * type_.sizeof:(i + 1) * type_.sizeof], type_) for i in range(n)]

    def blocks(self):
        return self.array("blocks_", self.block_t, 0, self.nblocks)


def _tc_guest_code(state, b):
    """The guest instructions block `b` was made from: [(eip, length, text)], read from the
    guest-physical frames the translator noted."""
    eip = int(b["eip"])
    frames = [int(b["frames"][0]), int(b["frames"][1])]
    out = []
    for _ in range(int(b["guest_insns"])):
        frame = frames[0] if (eip >> 12) == (int(b["eip"]) >> 12) else frames[1]
        if frame == 0xFFFFFFFF:
            break
        phys = state.guest_phys((frame << 12) | (eip & 0xFFF))
        delta = eip - phys
        insn = disassemble_phys(phys, count=1)[0]
        text = _retarget(insn["asm"], lambda a: "0x%08x" % ((a + delta) & 0xFFFFFFFF))
        out.append((eip, insn["length"], text))
        eip += insn["length"]
    return out


@command("hv-tc", "ADDR: lab02: the translation of guest address ADDR (or the block at cache address ADDR): "
         "its block, chaining, the cache code beside the guest code.", labs=("lab02",))
def hv_tc(state, arg):
    if not arg:
        raise HvError("usage: hv-tc ADDR (a guest kernel address, e.g. hv-tc v.eip, or a cache address "
                      "from ffc00000 on)")
    try:
        la = int(gdb.parse_and_eval(arg)) & 0xFFFFFFFF
    except gdb.error as e:
        raise HvError("'%s' is not an address: %s" % (arg, e))
    tr = _Translator(state)
    blocks = tr.blocks()
    print("%s %08x (%s): %d blocks in the translation cache, %d of its %d KiB used" % (
        "cache" if _KC <= la < _KC + tr.cache_bytes else "guest", la, state.lab, len(blocks), tr.used // 1024,
        tr.cache_bytes // 1024))
    if _KC <= la < _KC + tr.cache_bytes:
        off = la - _KC
        if off < tr.lookup_bytes:
            print("  the inline lookup table (slot %d): {guest EIP, cache offset} pairs, no code" % (off // 8))
            return
        held = [(i, b) for i, b in enumerate(blocks) if int(b["start"]) <= off < int(b["end"])]
        if not held:
            print("  cache +%06x holds no block (%s)" % (off, "beyond the code written so far" if off >= tr.used
                                                            else "a block emptied by a flush"))
            return
        for i, b in held:
            _tc_block(state, tr, blocks, i, b, _tc_guest_code(state, b), None, off)
        return
    found = []
    for i, b in enumerate(blocks):
        eip = int(b["eip"])
        if eip <= la < eip + 15 * int(b["guest_insns"]):
            code = _tc_guest_code(state, b)
            if code and la < code[-1][0] + code[-1][1]:
                found.append((i, b, code))
    live = [f for f in found if bool(f[1]["live"])]
    if not live:
        if found:
            print("  no live translation: block(s) %s held it, dropped since (a write to their code's page)" %
                  ", ".join("#%d" % f[0] for f in found))
        else:
            print("  no translation: no block holds it (the translator makes one when the guest kernel "
                  "first runs there, at CPL 0; guest user code runs untranslated)")
        return
    for i, b, code in live:
        _tc_block(state, tr, blocks, i, b, code, la, None)


_MODE_IF, _MODE_SHADOW, _MODE_SLOW = 1, 2, 4  # kModeIF, kModeShadow, kModeSlow


def _mode_text(mode):
    """A block's or an exit's mode (translator.hpp): the virtual IF it was translated for."""
    mode = int(mode)
    return "IF=%d%s%s" % (mode & _MODE_IF, ", in STI's shadow" if mode & _MODE_SHADOW else "",
                          ", slow (IOPL/TF/NT set: PUSHF and POPF call out)" if mode & _MODE_SLOW else "")


def _tc_block(state, tr, blocks, i, b, code, la, mark):
    """Block #i: `la` the guest address asked for, or `mark` the cache offset."""
    start, end = int(b["start"]), int(b["end"])
    eip, cs = int(b["eip"]), int(b["cs"])
    kc = _KC
    starts = [c[0] for c in code]
    if la is not None:
        where = "; %08x is %s" % (la, "its first instruction" if la == eip else "instruction %d" % (
            starts.index(la) + 1) if la in starts else "inside an instruction, not at its start")
    else:
        where = "; it holds cache +%06x" % mark
    mode = int(b["mode"])
    print("block #%d%s%s: guest %04x:%08x..%08x, mode %s, %d instructions (%d copied as is)%s" % (
        i, " (one-shot)" if bool(b["one_shot"]) else "", "" if bool(b["live"]) else " (dropped)", cs, eip,
        code[-1][0] + code[-1][1] if code else eip, _mode_text(mode), len(code), int(b["ident_insns"]), where))
    frames = [int(f) for f in (b["frames"][0], b["frames"][1]) if int(f) != 0xFFFFFFFF]
    print("  from guest-physical frame%s %s; cache +%06x..+%06x (linear %08x, host-physical %08x)" % (
        "s" if len(frames) > 1 else "", ", ".join("%05x" % f for f in frames), start, end, kc + start, tr.code + start))
    if cs == tr.lookup_cs and not bool(b["one_shot"]) and not mode & (_MODE_SLOW | _MODE_SHADOW):
        # Translator::table_index: the half of the block's IF, then Translator::slot.
        slot = (mode & _MODE_IF) * tr.lookup_entries + ((eip ^ (eip >> 12)) & (tr.lookup_entries - 1))
        t_eip, t_off = struct.unpack("<II", read_phys(tr.code + slot * 8, 8))
        print("  inline lookup table slot %d: %s" % (
            slot, "this block" if (t_eip, t_off) == (eip, start) else
            "empty" if t_eip == 0xFFFFFFFF else "guest %08x (+%06x), a block with the same slot" % (t_eip, t_off)))
    # For the commands that follow: `hv-tc $tc_cache + N`.
    gdb.set_convenience_variable("tc_block", i)
    gdb.set_convenience_variable("tc_cache", kc + start)
    exits = tr.array("exits_", tr.exit_t, int(b["first_exit"]), int(b["exits"]))
    by_jump = {}
    for k, e in enumerate(exits):
        to = int(e["to"])
        if to == 0xFFFFFFFF:
            how = "unchained: its jump goes to the stub at +%06x" % int(e["stub"])
        else:
            how = "chained to block #%d (guest %08x) at +%06x" % (to, int(blocks[to]["eip"]), int(blocks[to]["start"]))
        other = "" if int(e["mode"]) == mode else " (%s)" % _mode_text(e["mode"])
        by_jump[int(e["jump"])] = "exit #%d to guest %08x%s, %s" % (int(b["first_exit"]) + k, int(e["target"]), other,
                                                                   how)
    # Exits of other blocks chained here, and where their jumps really go (the rel32 in the cache).
    for k, e in enumerate(tr.array("exits_", tr.exit_t, 0, tr.nexits)):
        if int(e["to"]) != i:
            continue
        jump = int(e["jump"])
        lands = (jump + 4 + struct.unpack("<i", read_phys(tr.code + jump, 4))[0]) & 0xFFFFFFFF
        print("  entered by exit #%d of block #%d: its jump lands at +%06x%s" % (
            k, int(e["block"]), lands, "" if lands == start else
            " MISMATCH: not this block's start +%06x (chain() aimed it wrong)" % start))
    records = tr.array("records_", tr.record_t, int(b["first_record"]), int(b["records"]))
    at = {}
    for r in records:
        at.setdefault(int(r["offset"]), []).append(r)
    pending = list(code)
    lo, hi = code[0][0], code[-1][0] + code[-1][1]
    to_cache = lambda a: ("+%06x" % (a - tr.code)) if tr.code <= a < tr.code + tr.cache_bytes else "%#x" % a
    print("  guest code%31s translated code (cache offset)" % "")
    for insn in disassemble_phys(tr.code + start, end=tr.code + end):
        off = insn["addr"] - tr.code
        notes = []
        if mark is not None and off < mark < off + insn["length"]:
            notes.append("cache +%06x is inside this instruction: no instruction boundary" % mark)
        for r in at.get(off, []):
            spot, reip = enum_name(r["spot"]), int(r["eip"]) & 0xFFFFFFFF
            if spot != "exit" and lo <= reip < hi:
                while pending and pending[0][0] <= reip:
                    g = pending.pop(0)
                    print("%s %08x  %-30s [%s]" % ("=>" if g[0] == la else "  ", g[0], g[2], enum_name(r["rule"])))
            if spot == "callout":
                notes.append("callout site %d" % int(r["aux"]))
            elif spot == "exit":
                notes.append("stub of exit #%d" % int(r["aux"]))
        for j in range(insn["length"]):
            if off + j in by_jump:
                notes.append(by_jump[off + j])
        text = _retarget(insn["asm"], to_cache)
        print("%s %8s  %-30s +%06x %-28s%s" % ("=>" if off == mark else "  ", "", "", off, text,
                                              ("  ; " + "; ".join(notes)) if notes else ""))
    for g in pending:
        print("%s %08x  %s" % ("=>" if g[0] == la else "  ", g[0], g[2]))


_KC = 0xFFC00000  # kCacheLinear: where the guest's address space maps the cache


# ---- hv-hcall -------------------------------------------------------------------------------

_HCALL_REGS = ("ebx", "ecx", "edx", "esi", "edi")
_HCALL_TEXT = 72  # console_write: how much of the text to show


@command("hv-hcall", "[N]: lab03: the last N hypercalls (default 8), oldest first: number, arguments, result.",
         labs=("lab03",))
def hv_hcall(state, arg):
    try:
        n = int(arg, 0) if arg else 8
    except ValueError:
        raise HvError("N must be a number, not '%s'" % arg)
    ring = state.d["hypercall_ring"]
    size = ring.type.range()[1] + 1
    total = int(state.d["hypercalls"])
    n = max(0, min(n, size, total))
    print("last %d of %d hypercalls (%s):" % (n, total, state.lab))
    for k in range(total - n, total):
        h = ring[k % size]
        nr = int(h["number"])
        name = state.string(int(h["name"]), 32) if int(h["name"]) else "?"
        nargs = min(int(h["nargs"]), len(_HCALL_REGS))
        args = ", ".join("%s=%#x" % (_HCALL_REGS[i], int(h["args"][i]) & 0xFFFFFFFF) for i in range(nargs))
        if not bool(h["done"]):
            outcome = "(in progress)"
        elif enum_name(h["action"]) != "advance":
            outcome = "-> no result: the handler's action was %s" % enum_name(h["action"])
        else:
            rc = int(h["result"])
            outcome = "-> %d" % rc if rc >= 0 else "-> %d (%s)" % (
                rc, state.string(int(h["error"]), 16) if int(h["error"]) else "error")
        print("  #%-5d eip %08x  %2d %s(%s) %s" % (int(h["seq"]), int(h["guest_eip"]) & 0xFFFFFFFF, nr, name,
                                                   args, outcome))
        if name == "console_write" and 0 < int(h["args"][1]) <= 4096:
            # What the guest asked to print, from its memory now (through its own tables).
            n = int(h["args"][1])
            text = read_guest_linear(state, int(h["args"][0]) & 0xFFFFFFFF, min(n, _HCALL_TEXT))
            if text is not None:
                print("         text %s%s" % (repr(text.decode("latin-1")), "..." if n > _HCALL_TEXT else ""))


# ---- hv-pt ----------------------------------------------------------------------------------

def guest_linear_to_phys(state, la):
    """Guest-physical address of guest-linear `la` through the guest's own tables, or None."""
    v = state.vcpu()
    cr0, cr3, cr4 = (int(v[c]) & 0xFFFFFFFF for c in ("cr0", "cr3", "cr4"))
    if not cr0 & 0x80000000:
        return la
    try:
        if cr4 & 0x20:
            return walk_pae(lambda gpa: state.read_u64(state.guest_phys(gpa)), cr3, la, "guest", show=False)
        return walk32(lambda gpa: state.read_u32(state.guest_phys(gpa)), cr3, la, bool(cr4 & 0x10), "guest",
                      show=False)
    except HvError:
        return None


def read_guest_linear(state, la, n):
    """`n` bytes of the guest's memory at guest-linear `la`, or None where it is not mapped."""
    out = b""
    while n > 0:
        chunk = min(n, 0x1000 - (la & 0xFFF))
        gpa = guest_linear_to_phys(state, la)
        if gpa is None:
            return None
        try:
            out += read_phys(state.guest_phys(gpa), chunk)
        except HvError:
            return None
        la, n = (la + chunk) & 0xFFFFFFFF, n - chunk
    return out


def _bits32(e):
    return "%s%s%s%s" % ("P" if e & 1 else "-", "W" if e & 2 else "r", "U" if e & 4 else "s",
                         " PS" if e & 0x80 else "")


def walk32(read, root, la, pse, label, show=True):
    """A 32-bit walk of `la` from directory `root` (physical); returns the final physical address."""
    out = print if show else (lambda *args: None)
    pde_at = (root & ~0xFFF) + ((la >> 22) << 2)
    pde = read(pde_at)
    out("  %s PDE[%3d] at %08x = %08x %s" % (label, la >> 22, pde_at, pde, _bits32(pde)))
    if not pde & 1:
        return None
    if pde & 0x80 and pse:
        return (pde & 0xFFC00000) | (la & 0x3FFFFF)
    pte_at = (pde & ~0xFFF) + (((la >> 12) & 0x3FF) << 2)
    pte = read(pte_at)
    out("  %s PTE[%3d] at %08x = %08x %s" % (label, (la >> 12) & 0x3FF, pte_at, pte, _bits32(pte)))
    if not pte & 1:
        return None
    return (pte & ~0xFFF) | (la & 0xFFF)


def walk_pae(read64, root, la, label, show=True):
    out = print if show else (lambda *args: None)
    mask = 0x000FFFFFFFFFF000
    pdpte_at = (root & ~0x1F) + ((la >> 30) << 3)
    pdpte = read64(pdpte_at)
    out("  %s PDPTE[%d] at %x = %016x" % (label, la >> 30, pdpte_at, pdpte))
    if not pdpte & 1:
        return None
    pde_at = (pdpte & mask) + (((la >> 21) & 0x1FF) << 3)
    pde = read64(pde_at)
    out("  %s PDE[%3d] at %x = %016x %s" % (label, (la >> 21) & 0x1FF, pde_at, pde, _bits32(pde)))
    if not pde & 1:
        return None
    if pde & 0x80:
        return (pde & 0x000FFFFFFFE00000) | (la & 0x1FFFFF)
    pte_at = (pde & mask) + (((la >> 12) & 0x1FF) << 3)
    pte = read64(pte_at)
    out("  %s PTE[%3d] at %x = %016x %s" % (label, (la >> 12) & 0x1FF, pte_at, pte, _bits32(pte)))
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


def configure(lab=None, monitor=None, guest=None, hosted=False):
    """Called by autograder/gdb with what it loaded: the monitor's image (None for a bare
    guest) at its link addresses, and the guest's image for hv-symbols; `hosted`: a hosted
    VMM's stub (lab05), where the target is the guest alone."""
    _config.update(lab=lab, monitor=monitor, guest=guest, low="monitor", hosted=hosted)


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
