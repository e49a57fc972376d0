"""nbgrader preprocessors of this course (nbgrader_config.py configures them).

HiddenTestsOverwriteCells: nbgrader 0.9.6's OverwriteCells compares each locked cell of a
submission with the instructor's source and warns "Attribute 'checksum' for cell ... has
changed!" before restoring the source. A hidden-test cell always differs (the student got it
with its hidden region removed), so every submission drew a false warning per hidden-test cell
(nbgrader #1961). Here a locked cell that is exactly what the student was given, the source
with its hidden regions removed, is restored silently; any other difference (a student who
edited a locked cell) still warns and is restored, as before.
"""
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells


def as_released(source, begin="BEGIN HIDDEN TESTS", end="END HIDDEN TESTS"):
    """The source as generate_assignment gives it to students: hidden regions removed
    (the same rule as nbgrader's ClearHiddenTests)."""
    kept, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


class HiddenTestsOverwriteCells(OverwriteCells):
    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            try:
                source = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source = None
            hidden = ClearHiddenTests(parent=self)
            if (source is not None and source.locked and hidden.begin_test_delimeter in source.source
                    and cell.source == as_released(source.source, hidden.begin_test_delimeter,
                                                   hidden.end_test_delimeter)):
                cell.source = source.source   # put the hidden tests back, nothing to report
        return super().preprocess_cell(cell, resources, cell_index)
