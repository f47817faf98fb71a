-- Migration number: 0001 	 2026-12-06T03:00:00.000Z
-- Applied from the explorer's database page (tests/test_explorer_browser.py).
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  body TEXT NOT NULL
);
INSERT INTO notes (body) VALUES ('written by a migration');
