#!/usr/bin/env python3
"""Flags C calls whose result is ignored (issue 16; house style: "no ignored return codes").

A call to one of the functions below used as a bare statement (its value
dropped) is an error, unless it is cast to (void) or its line carries
`// unchecked-ok: WHY` (a deliberate, explained choice). glTexStorage3D
returns nothing: it must be followed within 3 lines by glGetError or a
gl_check helper. Run by ctest (test `c_calls_checked`) over src/ and include/.

usage: check_c_calls.py [ROOT]   (exit 1 and one line per finding)
       check_c_calls.py --self-test  (the check finds planted unchecked calls; ctest c_calls_check_self_test)
"""
import pathlib
import re
import sys

CHECKED = [
    r"H5[A-Z]close", r"H5Drefresh", r"H5Eclear2?", r"H5Fflush", r"H5Dflush",
    r"sqlite3_bind_\w+", r"sqlite3_reset", r"TIFFGetField", r"TIFFSetField", r"TIFFFlush", r"TIFFWriteDirectory",
    r"fstat", r"fsync", r"ftruncate",
    r"zmq_send", r"zmq_recv", r"zmq_msg_send", r"zmq_msg_recv", r"zmq::send_multipart", r"zmq::recv_multipart",
]
CALL = re.compile(r"(?<![\w:.>])(" + "|".join(CHECKED) + r")\s*\(")
GL_VOID = re.compile(r"\bglTexStorage3D\s*\(")


def strip_comments_and_strings(text):
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + (c if j < n else ""))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def findings(path):
    raw = path.read_text(errors="replace")
    lines = raw.split("\n")
    code = strip_comments_and_strings(raw)
    for m in CALL.finditer(code):
        line_no = code.count("\n", 0, m.start()) + 1
        if "unchecked-ok:" in lines[line_no - 1]:
            continue
        before = code[: m.start()].rstrip()
        if before.endswith("(void)"):
            continue
        prev = before[-1:] if before else ";"
        if prev in ";{}:" or before.endswith("else") or (prev == ")" and not before.endswith("(void)")):
            # A statement (or the body of an if/for without braces): its value is dropped.
            if prev == ")" and re.search(r"(?:=|return|&&|\|\||!|\(|,)\s*\($", before[-3:]):
                continue
            yield line_no, m.group(1)
    for m in GL_VOID.finditer(code):
        line_no = code.count("\n", 0, m.start()) + 1
        after = "\n".join(lines[line_no - 1: line_no + 3])
        if "glGetError" not in after and "gl_check" not in after and "unchecked-ok:" not in after:
            yield line_no, "glTexStorage3D (no glGetError after it)"


def load_pending(root):
    """scripts/c_calls_pending.txt: `PATH FUNCTION COUNT` lines, findings known when the check
    was introduced and left to their owners. A file may have at most that many; fixing one
    means lowering (or deleting) its line, so the list only shrinks."""
    pending = {}
    f = root / "scripts" / "c_calls_pending.txt"
    if f.exists():
        for line in f.read_text().splitlines():
            parts = line.split("#")[0].split()
            if len(parts) == 3:
                pending[(parts[0], parts[1])] = int(parts[2])
    return pending


def self_test():
    """The check itself can fail: planted unchecked calls are found, checked ones are not."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        src = pathlib.Path(d) / "src"
        src.mkdir()
        (src / "planted.cpp").write_text(
            "void f(TIFF* t, uint32_t* w) {\n"
            "  TIFFGetField(t, TIFFTAG_IMAGEWIDTH, w);\n"          # flagged
            "  if (TIFFGetField(t, TIFFTAG_IMAGEWIDTH, w) != 1) return;\n"
            "  (void)H5Fclose(1);\n"
            "  H5Dclose(2);  // unchecked-ok: the test says why\n"
            "  glTexStorage3D(GL_TEXTURE_2D_ARRAY, 1, 0, 1, 1, 1);\n"  # flagged: no glGetError after it
            "  zmq_send(s, b, n, 0);\n"                            # flagged
            "}\n")
        got = sorted(name for _, name in findings(src / "planted.cpp"))
    want = sorted(["TIFFGetField", "glTexStorage3D (no glGetError after it)", "zmq_send"])
    if got != want:
        print(f"self-test failed: found {got}, expected {want}")
        return 1
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        return self_test()
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    pending = load_pending(root)
    found = {}
    for folder in ("src", "include"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in (".cpp", ".h", ".cc", ".hpp"):
                continue
            for line_no, name in findings(path):
                key = (str(path.relative_to(root)), name.split()[0])
                found.setdefault(key, []).append(line_no)
    bad = 0
    for (path, name), lines in sorted(found.items()):
        allowed = pending.get((path, name), 0)
        if len(lines) > allowed:
            for line_no in lines:
                print(f"{path}:{line_no}: result of {name} ignored "
                      f"(check it, cast to (void) with a reason, or mark `// unchecked-ok: WHY`)")
            bad += len(lines) - allowed
    if bad:
        print(f"{bad} new unchecked C call(s) (known ones: scripts/c_calls_pending.txt)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
