"""nbgrader settings for this course (used by `./course release` and by instructors who grade
from the repository root). See book/instructor.md."""
c = get_config()  # noqa: F821  (nbgrader provides it)

c.CourseDirectory.root = "."
# The chapter notebooks: one assignment per chapter, named after the notebook.
c.CourseDirectory.db_assignments = []
# Cells may take a while (explorers pre-draw their frames): nbgrader's default is 30 s.
c.Execute.timeout = 120
c.ExecutePreprocessor.timeout = 120
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
