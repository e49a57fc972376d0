"""JupyterHub for this course on one server (book/instructor.md, "Running a class").

    sudo /path/to/course/.venv/bin/jupyterhub -f hub/jupyterhub_config.py

- Every student and the instructor is a hub user and a Unix user of the same name, with a home
  of their own (mode 700); the hub logs them in with their Unix password (PAM) and starts each
  one's JupyterLab as that user (LocalProcessSpawner): Unix permissions are the isolation.
- The course environment is installed once, in the repository's .venv (`./course install`,
  readable by everyone): every server runs its `jupyterhub-singleuser`, so every kernel has the
  course's Python, labutils and nbgrader.
- Students' servers get hub/student/ first on JUPYTER_CONFIG_PATH: nbgrader's Assignment List
  (fetch, submit, fetch feedback) and Validate, not Formgrader, Course List or Create
  Assignment; their nbgrader_config.py gives the course id and the exchange. The instructors'
  servers (COURSE_INSTRUCTORS) keep all of nbgrader's tools, start in ~/course and grade with
  the `./course` verbs there (COURSE_DIR is set).
- The exchange is one folder every user can write ($COURSE_EXCHANGE, default
  /srv/nbgrader/exchange, mode 777; nbgrader makes its inbound folder write-only for students).

Limits: LocalProcessSpawner enforces none (mem_limit and cpu_limit are only passed on to the
server as MEM_LIMIT/CPU_LIMIT). To enforce the recommended 1 GiB and 1 CPU per student, use
systemdspawner (`c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"`: MemoryMax and
CPUQuota of a systemd unit per user) or a container spawner (DockerSpawner; on Kubernetes,
hub/values.yaml). `c.Spawner.mem_limit`/`cpu_limit` below are what those enforce.

Everything a rehearsal or a real hub changes is an environment variable (tools/rehearse.py
sets them): COURSE_HUB_IP/PORT (default all interfaces, 8000), COURSE_HUB_STATE (the hub's
database, cookie secret and logs; default /srv/jupyterhub), COURSE_EXCHANGE,
COURSE_INSTRUCTORS (comma-separated user names, default "instructor"), COURSE_HUB_ADMIN_TOKEN
(an API token with admin rights for a script, as the rehearsal uses; unset, none) and
COURSE_HUB_SPAWNER=simple (every server as the hub's own user: no isolation, for a rehearsal
without root).
"""
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent          # the hub runs from the course's .venv
STATE = Path(os.environ.get("COURSE_HUB_STATE", "/srv/jupyterhub"))
EXCHANGE = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")
INSTRUCTORS = {n for n in os.environ.get("COURSE_INSTRUCTORS", "instructor").split(",") if n}

c = get_config()  # noqa: F821  (JupyterHub provides it)

# -- The hub and its proxy (configurable-http-proxy from the repository's node_modules) ---------
c.JupyterHub.bind_url = (f"http://{os.environ.get('COURSE_HUB_IP', '')}:"
                         f"{os.environ.get('COURSE_HUB_PORT', '8000')}")
c.JupyterHub.hub_ip = "127.0.0.1"
if os.environ.get("COURSE_HUB_INTERNAL_PORT"):
    c.JupyterHub.hub_port = int(os.environ["COURSE_HUB_INTERNAL_PORT"])
if os.environ.get("COURSE_HUB_PROXY_API_PORT"):
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ['COURSE_HUB_PROXY_API_PORT']}"
c.ConfigurableHTTPProxy.command = [str(REPO / "node_modules" / ".bin" / "configurable-http-proxy")]
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")

# -- Users -------------------------------------------------------------------------------------
# PAM: a hub user is a Unix user with a password. Let in the class (a Unix group of students).
c.Authenticator.allowed_users = set(os.environ.get("COURSE_STUDENTS", "").split(",")) - {""}
c.Authenticator.admin_users = INSTRUCTORS
if os.environ.get("COURSE_HUB_ADMIN_TOKEN"):
    c.JupyterHub.services = [{"name": "course-admin",
                              "api_token": os.environ["COURSE_HUB_ADMIN_TOKEN"]}]
    c.JupyterHub.load_roles = [{"name": "course-admin", "services": ["course-admin"],
                                "scopes": ["admin:users", "admin:servers", "tokens",
                                           "access:servers", "list:users", "read:users"]}]

# -- Each user's JupyterLab --------------------------------------------------------------------
if os.environ.get("COURSE_HUB_SPAWNER") == "simple":
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = os.environ.get(
        "COURSE_HUB_HOMES", "/tmp/jupyterhub-homes") + "/{username}"
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.Spawner.mem_limit = "1G"      # enforced by systemdspawner or a container spawner, not here
c.Spawner.cpu_limit = 1.0
c.Spawner.environment = {"COURSE_EXCHANGE": EXCHANGE,
                         "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"}
# Users start with a clean environment of their own (the hub's variables are not passed on),
# but for the library path of a Python that needs one (the rehearsal's copied interpreter).
if os.environ.get("LD_LIBRARY_PATH"):
    c.Spawner.environment["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]


def per_role(spawner):
    """Students: hub/student first on the config path (no instructor tools). Instructors: the
    course folder ~/course, and COURSE_DIR so that `./course` verbs grade there."""
    env = spawner.environment = dict(spawner.environment)   # a copy per server
    if spawner.user.name in INSTRUCTORS:
        home = Path(getattr(spawner, "home_dir", "") or os.path.expanduser(f"~{spawner.user.name}"))
        env["COURSE_DIR"] = str(home / "course")
    else:
        env["JUPYTER_CONFIG_PATH"] = str(REPO / "hub" / "student")


c.Spawner.pre_spawn_hook = per_role
