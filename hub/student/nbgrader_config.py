"""A student's nbgrader settings on the hub (JUPYTER_CONFIG_PATH of every student's server,
set by hub/jupyterhub_config.py): the course id of the repository's nbgrader_config.py and the
shared exchange, nothing else (students have no course folder or gradebook)."""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(REPO, "nbgrader_config.py")) as fh:
    COURSE_ID = re.search(r'^COURSE_ID = "([^"]+)"', fh.read(), re.MULTILINE).group(1)

c = get_config()  # noqa: F821  (nbgrader provides it)
c.CourseDirectory.course_id = COURSE_ID
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")
