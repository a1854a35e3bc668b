"""Load the Citewise corpus (papers-page.txt) as a list of papers with ids."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from agent.ingest.normalize import paper_id, clean_display  # noqa: E402

CORPUS = ROOT / "agent" / "data" / "papers-page.txt"


def load():
    lines = CORPUS.read_text(encoding="utf-8").split("\n")
    body = lines[2:]
    while body and not body[-1].strip():
        body.pop()
    if body[0].startswith("Subscribe"):
        body[0] = body[0][len("Subscribe"):]
    assert len(body) % 2 == 0, len(body)
    papers = []
    for i in range(0, len(body), 2):
        title = body[i].strip()
        papers.append({"id": paper_id(title), "title": title, "abstract": clean_display(body[i + 1])})
    return papers


if __name__ == "__main__":
    ps = load()
    for i, p in enumerate(ps):
        print(f"#{i} [{p['id']}] {p['title']}\n{p['abstract']}\n")
