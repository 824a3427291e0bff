import os

import pytest


@pytest.fixture
def source(tmp_path):
    """A release source folder: release notes, two files (one executable), a script, a deletion."""
    src = tmp_path / "src"
    (src / "files" / "templates" / "cassiopeia").mkdir(parents=True)
    (src / "sql").mkdir()
    (src / "RELEASE.md").write_text("# New footer\n\nChanges the footer. Roll out as usual.\n")
    (src / "files" / "templates" / "cassiopeia" / "index.php").write_text("<?php echo 'v2';\n")
    (src / "files" / "cli.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "files" / "cli.sh", 0o755)
    (src / "sql" / "001-badge.sql").write_text("ALTER TABLE #__content ADD COLUMN badge INT;\n")
    (src / "delete.txt").write_text("# old files\nmedia/old.js\n\n")
    return src
