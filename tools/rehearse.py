"""A class on JupyterHub, rehearsed on this machine (`./course rehearse`; book/instructor.md,
"Running a class").

Starts hub/jupyterhub_config.py on 127.0.0.1 (JupyterHub from .venv, configurable-http-proxy
from node_modules) with an instructor and three students, and drives the fixture chapter
tests/fixtures/workflow/mini.ipynb through nbgrader's exchange:

  instructor: assign, release_assignment
  students (each through their own server's Assignment List API and Contents API, with a
  token of their own, through the hub's proxy): fetch, fill in (right / the ReLU exercise
  wrong / blank), submit
  instructor: collect, autograde (with a class seed), generate_feedback, release_feedback,
  export
  students: fetch_feedback, read their feedback page

As root it creates throwaway Unix users dlb-rehearse-* (homes in a temporary folder, mode 700)
and checks isolation: a student cannot list the exchange's inbound folder, nor read another
student's notebook or the instructor's source. Elsewhere every server runs as you
(SimpleLocalProcessSpawner) and it says that isolation was not rehearsed. The instructor's
steps are the grading verbs (tools/grade.py) run as the instructor's Unix user.

Exit status 1, with the step named, if anything fails or a grade is not what that student
deserves. Processes, users and the temporary folder are removed at the end, also on failure.

    python tools/rehearse.py [--keep] [--measure] [--json PATH]
"""
import argparse
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "workflow" / "mini.ipynb"
CHAPTER = "mini"
PREFIX = "dlb-rehearse-"
INSTRUCTOR = PREFIX + "teacher"
ANSWERS = {
    "ex_linear_forward": "def linear_forward(x, W, b):\n    return x @ W.T + b",
    "ex_relu_backward": "def relu_backward(dy, x):\n    return dy * (x > 0)",
    "ex_linear_backward": "def linear_backward(dy, x, W):\n"
                          "    return dy @ W, dy.T @ x, dy.sum(axis=0)",
}
WRONG_RELU = {"ex_relu_backward": "def relu_backward(dy, x):\n    return dy * (x >= 0)"}
STUDENTS = {    # name: (what they hand in, the score they deserve out of 4)
    PREFIX + "ada": (ANSWERS, 4.0),                      # right
    PREFIX + "ben": ({**ANSWERS, **WRONG_RELU}, 3.0),    # the ReLU exercise wrong
    PREFIX + "cyd": ({}, 0.0),                           # blank
}
MAX_SCORE = 4.0
HIDDEN_CELL = "ex_linear_backward_hidden"
WAIT = 90           # seconds, the bound of every wait


class Failed(Exception):
    pass


def say(msg):
    print(f"[rehearse] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def course_id():
    text = (ROOT / "nbgrader_config.py").read_text()
    return re.search(r'^COURSE_ID = "([^"]+)"', text, re.MULTILINE).group(1)


class Hub:
    """The hub process, its REST API (an admin service token) and each user's server."""

    def __init__(self, work, as_root, bin_dir, extra_env):
        self.work, self.as_root, self.bin, self.extra = work, as_root, bin_dir, extra_env
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.user_tokens = {}
        self.proc = None

    def start(self, instructors, students):
        state = self.work / "state"
        state.mkdir(mode=0o700)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "JUPYTER"))}
        env.update(COURSE_HUB_IP="127.0.0.1", COURSE_HUB_PORT=str(self.port),
                   COURSE_HUB_INTERNAL_PORT=str(free_port()),
                   COURSE_HUB_PROXY_API_PORT=str(free_port()),
                   COURSE_HUB_STATE=str(state), COURSE_EXCHANGE=str(self.work / "exchange"),
                   COURSE_INSTRUCTORS=",".join(instructors), COURSE_STUDENTS=",".join(students),
                   COURSE_HUB_ADMIN_TOKEN=self.token, COURSE_HUB_HOMES=str(self.work / "home"),
                   PATH=f"{self.bin}:{env.get('PATH', '/usr/bin:/bin')}")
        env.update(self.extra)
        if not self.as_root:
            env["COURSE_HUB_SPAWNER"] = "simple"
        self.log = self.work / "jupyterhub.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [str(self.bin / "jupyterhub"), "-f",
                 str(ROOT / "hub" / "jupyterhub_config.py")],
                cwd=state, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.wait(lambda: self.api("GET", "/hub/api/") is not None, "the hub to answer")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)    # the hub's own process group
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def wait(self, ok, what, timeout=WAIT):
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise Failed(f"the hub stopped while waiting for {what}:\n{self.tail()}")
            try:
                if ok():
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.time() > deadline:
                raise Failed(f"waited {timeout} s for {what}:\n{self.tail()}")
            time.sleep(0.3)

    def tail(self):
        return self.log.read_text()[-3000:] if self.log.exists() else ""

    def request(self, method, path, token, data=None, form=None):
        url = f"http://127.0.0.1:{self.port}{path}"
        body, headers = None, {"Authorization": f"token {token}"}
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=WAIT) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as e:
            if e.code == 404 and method == "GET":
                return None
            raise Failed(f"{method} {path}: HTTP {e.code} {e.read().decode()[:500]}") from None
        return json.loads(text) if text.strip() else {}

    def api(self, method, path, data=None):
        return self.request(method, path, self.token, data=data)

    def start_server(self, user):
        self.api("POST", f"/hub/api/users/{user}/server")

    def wait_ready(self, user):
        def ready():
            info = self.api("GET", f"/hub/api/users/{user}")
            return bool(info and info.get("servers", {}).get("", {}).get("ready"))
        self.wait(ready, f"{user}'s server")
        tok = self.api("POST", f"/hub/api/users/{user}/tokens",
                       {"note": "rehearsal", "expires_in": 3600})
        self.user_tokens[user] = tok["token"]

    def as_user(self, user, method, path, **kw):
        """A request to the user's own server, through the proxy, with the user's token."""
        return self.request(method, f"/user/{user}{path}", self.user_tokens[user], **kw)


# -- users and folders ----------------------------------------------------------------------------

def readable_by_all(path):
    """Whether every user can run this file (each folder on the way searchable by others)."""
    path = Path(path).resolve()
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents])


def shared_python(work):
    """The course's Python for users other than its owner, and the environment it needs. A hub
    installs the course environment where everyone can read it; here .venv may sit on an
    interpreter in root's private home (pyenv), which other users cannot run. Then the same
    interpreter (its standard library, without its own site-packages) is copied into the
    temporary folder, and a venv of it sees .venv's packages (a .pth file), its jupyter data and
    config (etc/, share/ linked) and its commands (shebangs rewritten)."""
    if readable_by_all(sys.executable):
        return Path(sys.executable).parent, {}
    base = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    python = work / "python"
    skip = shutil.ignore_patterns("site-packages", "test", "__pycache__", "idlelib", "tkinter")
    shutil.copytree(base / "lib" / version, python / "lib" / version, ignore=skip, symlinks=True)
    (python / "lib" / version / "site-packages").mkdir()
    for lib in base.joinpath("lib").glob("libpython*.so*"):
        shutil.copy2(lib, python / "lib" / lib.name, follow_symlinks=True)
    (python / "bin").mkdir()
    shutil.copy2(Path(sys.executable).resolve(), python / "bin" / version)
    extra = {"LD_LIBRARY_PATH": str(python / "lib")}
    system = python / "bin" / version
    venv, old = work / "venv", Path(sys.prefix)
    run_env = {**os.environ, **extra}
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60, env=run_env)
    site = subprocess.check_output([str(venv / "bin" / "python"), "-c", "import sysconfig; "
                                    "print(sysconfig.get_paths()['purelib'])"], text=True,
                                   env=run_env).strip()
    ours = sysconfig_purelib()
    Path(site, "course-venv.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    for d in ("etc", "share"):
        if (old / d).exists():
            (venv / d).symlink_to(old / d)
    for script in (old / "bin").iterdir():
        target = venv / "bin" / script.name
        if target.exists() or not script.is_file():
            continue
        head = script.read_bytes()[:200]
        if head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0]:
            body = script.read_text().split("\n", 1)[1]
            target.write_text(f"#!{venv / 'bin' / 'python'}\n{body}")
            target.chmod(0o755)
    say(f"{sys.executable} cannot be run by other users: they run a copy of it "
        f"with .venv's packages ({venv})")
    return venv / "bin", extra


def sysconfig_purelib():
    import sysconfig
    return sysconfig.get_paths()["purelib"]


def make_user(name, home):
    """A throwaway Unix user (root only) with a private home."""
    if name_exists(name):
        remove_user(name)           # left over from a run that was killed
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell",
                    "/usr/sbin/nologin", "-K", "HOME_MODE=0700", "-K", "UMASK=077", name],
                   check=True, timeout=30)
    home.chmod(0o700)


def name_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def remove_user(name):
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    kill_uid(uid)
    subprocess.run(["userdel", "--remove", name], timeout=30, capture_output=True)


def kill_uid(uid):
    """Processes the hub started as that throwaway user (its server and kernels)."""
    import psutil
    procs = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid]
    for p in procs:
        p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=10)
    for p in alive:
        p.kill()


def run_as(user, argv, env, as_root):
    """One instructor step (a grading verb) as the instructor's Unix user."""
    kw = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if as_root else {}
    r = subprocess.run(argv, env=env, cwd=env["COURSE_DIR"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600, **kw)
    if r.returncode:
        raise Failed(f"{' '.join(argv[1:4])} failed:\n{r.stdout[-3000:]}")
    return r.stdout


def can_read(user, path, as_root):
    """Whether that user can list (a folder) or read (a file) the path: a check of Unix
    permissions, run as that user."""
    code = ("import os, sys\np = sys.argv[1]\ntry:\n    os.listdir(p) if os.path.isdir(p) "
            "else open(p).read(1)\n    print('yes')\nexcept PermissionError:\n    print('no')")
    kw = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if as_root else {}
    r = subprocess.run(["/usr/bin/env", "python3", "-c", code, str(path)], capture_output=True,
                       text=True, timeout=30, cwd="/", env={"PATH": "/usr/bin:/bin"}, **kw)
    return r.stdout.strip() == "yes"


# -- the rehearsal ------------------------------------------------------------------------------

def fill_in(nb, answers):
    for c in nb["cells"]:
        gid = c["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in answers:
            c["source"] = answers[gid]
    return nb


def rehearse(work, seed, measure):
    as_root = os.geteuid() == 0
    cid = course_id()
    homes = work / "home"
    homes.mkdir()
    exchange = work / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    users = [INSTRUCTOR, *STUDENTS]
    if as_root:
        for u in users:
            make_user(u, homes / u)
        say(f"Unix users {', '.join(users)} (homes mode 700 in {homes})")
    else:
        for u in users:
            (homes / u).mkdir()
        say("not root: every server runs as you (SimpleLocalProcessSpawner); "
            "isolation between users is NOT rehearsed")

    teacher_home = homes / INSTRUCTOR
    cdir, nbs = teacher_home / "course", teacher_home / "notebooks"
    cdir.mkdir()
    nbs.mkdir()
    shutil.copy2(FIXTURE, nbs / f"{CHAPTER}.ipynb")
    if as_root:
        subprocess.run(["chown", "-R", f"{INSTRUCTOR}:", str(teacher_home)], check=True)
    bin_dir, extra = shared_python(work) if as_root else (Path(sys.executable).parent, {})
    grade_env = {**extra, "PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(teacher_home),
                 "COURSE_DIR": str(cdir), "COURSE_NOTEBOOKS": str(nbs),
                 "COURSE_EXCHANGE": str(exchange), "LANG": "C.UTF-8"}
    grade = [str(bin_dir / "python"), str(ROOT / "tools" / "grade.py")]

    hub = Hub(work, as_root, bin_dir, extra)
    try:
        t0 = time.time()
        hub.start([INSTRUCTOR], list(STUDENTS))
        say(f"JupyterHub on http://127.0.0.1:{hub.port} ({time.time() - t0:.1f} s)")
        # (the hub made the users from COURSE_INSTRUCTORS and COURSE_STUDENTS)
        for u in users:
            hub.start_server(u)
        for u in users:
            hub.wait_ready(u)
        say(f"servers of {', '.join(users)} ready ({time.time() - t0:.1f} s)")

        say("instructor: assign and release_assignment")
        run_as(INSTRUCTOR, grade + ["assign", CHAPTER], grade_env, as_root)
        run_as(INSTRUCTOR, grade + ["nbgrader", "release_assignment", CHAPTER], grade_env, as_root)

        for student, (answers, _) in STUDENTS.items():
            listed = hub.as_user(student, "GET", f"/assignments?course_id={cid}")
            if not listed or not listed.get("success"):
                raise Failed(f"{student}'s Assignment List: {listed}")
            names = [a["assignment_id"] for a in listed["value"] if a["status"] == "released"]
            if CHAPTER not in names:
                raise Failed(f"{student} does not see {CHAPTER} released: {listed['value']}")
            hub.as_user(student, "POST", "/assignments/fetch",
                        form={"course_id": cid, "assignment_id": CHAPTER})
            path = f"/api/contents/{CHAPTER}/{CHAPTER}.ipynb"
            got = hub.as_user(student, "GET", path)
            if got is None:
                raise Failed(f"{student} fetched {CHAPTER} but has no {CHAPTER}/{CHAPTER}.ipynb")
            nb = fill_in(got["content"], answers)
            hub.as_user(student, "PUT", path, data={"type": "notebook", "content": nb})
            out = hub.as_user(student, "POST", "/assignments/submit",
                              form={"course_id": cid, "assignment_id": CHAPTER})
            if out.get("success") is False:
                raise Failed(f"{student}'s submit: {out}")
            say(f"{student}: fetched, filled in "
                f"({'blank' if not answers else ', '.join(sorted(answers))}), submitted")

        isolation = None
        if as_root:
            a, b = list(STUDENTS)[:2]
            inbound = exchange / cid / "inbound"
            checks = {"list the exchange's inbound folder": can_read(a, inbound, True),
                      f"read {b}'s notebook": can_read(a, homes / b / CHAPTER /
                                                        f"{CHAPTER}.ipynb", True),
                      "read the instructor's source": can_read(a, nbs / f"{CHAPTER}.ipynb", True)}
            if not can_read(b, homes / b / CHAPTER / f"{CHAPTER}.ipynb", True):
                raise Failed(f"{b} cannot read their own notebook: the check is broken")
            broken = [k for k, v in checks.items() if v]
            if broken:
                raise Failed(f"isolation: {a} could " + "; ".join(broken))
            isolation = list(checks)
            say(f"isolation: {a} could not " + "; could not ".join(checks))

        say("instructor: collect, autograde, generate_feedback, release_feedback, export")
        run_as(INSTRUCTOR, grade + ["nbgrader", "collect", CHAPTER], grade_env, as_root)
        t = time.time()
        log = run_as(INSTRUCTOR, grade + ["autograde", CHAPTER, "--seed", seed], grade_env,
                     as_root)
        autograde_s = time.time() - t
        run_as(INSTRUCTOR, grade + ["feedback", CHAPTER], grade_env, as_root)
        run_as(INSTRUCTOR, grade + ["nbgrader", "release_feedback", CHAPTER], grade_env, as_root)
        run_as(INSTRUCTOR, grade + ["export"], grade_env, as_root)
        say(f"autograde of {len(STUDENTS)} submissions: {autograde_s:.1f} s")

        rows = (cdir / "grades.csv").read_text().splitlines()
        head = rows[0].split(",")
        grades = {r["student_id"]: (float(r["score"]), float(r["max_score"]))
                  for r in (dict(zip(head, row.split(","))) for row in rows[1:])}

        feedback = {}
        for student in STUDENTS:
            hub.as_user(student, "POST", "/assignments/fetch_feedback",
                        form={"course_id": cid, "assignment_id": CHAPTER})
            listing = hub.as_user(student, "GET", f"/api/contents/{CHAPTER}/feedback")
            if not listing or not listing["content"]:
                raise Failed(f"{student} fetched no feedback")
            stamp = listing["content"][0]["name"]
            page = hub.as_user(student, "GET", f"/api/contents/{CHAPTER}/feedback/"
                               f"{urllib.parse.quote(stamp)}/{CHAPTER}.html?type=file&format=text")
            feedback[student] = page["content"]
            say(f"{student}: fetched feedback ({len(page['content']) // 1000} kB)")

        print("\nFinal grades (grades.csv):")
        wrong = []
        for student, (_, deserved) in STUDENTS.items():
            got = grades.get(student)
            mark = "ok" if got == (deserved, MAX_SCORE) else "WRONG"
            print(f"  {student:22s} {got[0] if got else '-':>4} / {MAX_SCORE:g}   "
                  f"deserves {deserved:g}   {mark}")
            if mark != "ok":
                wrong.append(student)
        if wrong:
            raise Failed(f"grades not what they deserve: {', '.join(wrong)}")
        result = {"grades": grades, "feedback": feedback, "isolation": isolation,
                  "autograde_seconds": round(autograde_s, 1), "autograde_log": log,
                  "as_root": as_root, "course_dir": str(cdir)}
        if measure:
            result["memory"] = measure_memory(hub, list(STUDENTS)[0])
        return result
    finally:
        hub.stop()


def measure_memory(hub, student):
    """Resident memory of the student's processes (their server and one idle kernel started
    through it), in MiB. (A chapter's peak is measured apart: see book/instructor.md.)"""
    import psutil
    kernel = hub.as_user(student, "POST", "/api/kernels", data={"name": "python3"})

    def total():
        uid = pwd.getpwnam(student).pw_uid if os.geteuid() == 0 else os.getuid()
        mine = [p for p in psutil.process_iter(["uids", "cmdline"]) if p.info["uids"]
                and p.info["uids"].real == uid and "jupyter" in " ".join(p.info["cmdline"] or [])
                or (p.info["cmdline"] and "ipykernel_launcher" in " ".join(p.info["cmdline"])
                    and p.info["uids"].real == uid)]
        return sum(p.memory_info().rss for p in mine) / 2**20
    time.sleep(3)
    idle = total()
    hub.as_user(student, "DELETE", f"/api/kernels/{kernel['id']}")
    return {"idle_server_and_kernel_mib": round(idle)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (not users)")
    ap.add_argument("--measure", action="store_true", help="also measure a server's memory")
    ap.add_argument("--json", metavar="PATH", help="write the result (grades, feedback pages, "
                    "isolation checks, timings) to PATH")
    args = ap.parse_args(argv)
    for tool in (ROOT / "node_modules" / ".bin" / "configurable-http-proxy",
                 Path(sys.executable).parent / "jupyterhub"):
        if not tool.exists():
            sys.exit(f"{tool} is missing: run ./course install")
    work = Path(tempfile.mkdtemp(prefix=PREFIX))
    work.chmod(0o755)
    seed = secrets.token_hex(8)
    try:
        result = rehearse(work, seed, args.measure)
    except (Failed, OSError, subprocess.SubprocessError) as e:
        say(f"FAILED: {e}")
        return 1
    finally:
        if os.geteuid() == 0:
            for u in [INSTRUCTOR, *STUDENTS]:
                remove_user(u)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if not result["as_root"]:
        say("isolation was NOT rehearsed (not root: no Unix users of their own)")
    say("the class was rehearsed: every grade is what that student deserves")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print("RESULT " + json.dumps({k: v for k, v in result.items()
                                  if k not in ("autograde_log", "feedback", "course_dir")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
