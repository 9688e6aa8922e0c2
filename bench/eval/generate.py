#!/usr/bin/env python3
"""Generate the labelled evaluation cases for `policywatch diff-files` (see README.md beside this file).

    .venv/bin/python bench/eval/generate.py                      # 600 cases into bench/out/eval-cases/
    .venv/bin/python bench/eval/generate.py --cases 120 --seed 7 --out /tmp/cases

Each case is a folder holding old.<ext>, new.<ext> (html, md or txt) and label.json. Half the cases are
noise (never material), half material edits. The output is deterministic for a given --seed and --cases.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pw_blocks import COMPANIES, Bullets, Policy, build_policy  # noqa: E402
from pw_edits import (  # noqa: E402
    HTML_ONLY_NOISE,
    MATERIAL_KINDS,
    NOISE_KINDS,
    NOT_TXT_NOISE,
    apply_material,
    inject_typos,
    map_policy_text,
    move_section,
    rename_heading,
    swap_synonyms,
    typographic,
    zero_width,
)
from pw_pages import (  # noqa: E402
    BANNERS,
    EXT,
    HTML_TEMPLATES,
    LIST_STYLES,
    NAV_EXTRAS,
    PROMOS,
    TEMPLATES,
    default_opts,
    render,
)

GENERATOR = "policywatch-bench-eval/1"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "out", "eval-cases"))
RELATIVE = ["2 days ago", "3 days ago", "5 hours ago", "yesterday", "1 week ago", "2 weeks ago", "a month ago",
            "3 months ago"]


def later_date(date: tuple[int, int, int], rng: random.Random) -> tuple[int, int, int]:
    y, m, d = date
    m += rng.randint(1, 10)
    if m > 12:
        y, m = y + 1, m - 12
    d2 = rng.randint(1, 28)
    return (y, m, d2 if (y, m, d2) != date else (d2 % 28) + 1)


def templates_for(kind: str) -> list[str]:
    if kind in HTML_ONLY_NOISE:
        return HTML_TEMPLATES
    if kind in NOT_TXT_NOISE:
        return HTML_TEMPLATES + ["markdown"]
    return TEMPLATES


# ----------------------------------------------------------------------------------------- noise


def apply_noise(kind: str, old: Policy, new: Policy, o_old, o_new, rng: random.Random) -> dict:
    """Changes `new` (or `old`) and the render options; returns label fields."""
    lab = {"expect_status": None, "section_heading": None, "phrasing_id": None, "description": ""}
    tpl = o_old.template
    if kind == "template_swap":
        o_new.template = rng.choice([t for t in HTML_TEMPLATES if t != tpl])
        lab["description"] = f"same text under template {o_new.template}"
        lab["phrasing_id"] = f"{tpl}->{o_new.template}"
    elif kind == "whitespace_reflow":
        if tpl in HTML_TEMPLATES:
            o_new.reflow = rng.choice(["compact", "wrapped"])
            lab["phrasing_id"] = o_new.reflow
        else:
            o_new.wrap = rng.choice([60, 72, 100]) if tpl == "markdown" else rng.choice([60, 68, 100])
            lab["phrasing_id"] = f"wrap{o_new.wrap}"
        lab["description"] = "source whitespace and line wrapping changed"
    elif kind == "nav_footer_churn":
        nav = list(o_new.nav)
        nav.pop(rng.randrange(len(nav)))
        nav.insert(rng.randrange(len(nav) + 1), rng.choice(NAV_EXTRAS))
        o_new.nav = nav
        o_new.promo = rng.choice(PROMOS)
        o_new.footer_extra = [("Status", "/status"), ("Partners", "/partners"), ("Sitemap", "/sitemap")]
        o_new.footer_year = o_old.footer_year + 1
        o_new.sidebar = rng.choice(["toc", "related", "none"]) if rng.random() < 0.5 else o_new.sidebar
        lab["description"] = "navigation, promo bar, sidebar and footer changed"
        lab["phrasing_id"] = "nav+promo+footer"
    elif kind == "cookie_banner_churn":
        if rng.random() < 0.6:
            o_new.banner = rng.choice([b for b in BANNERS if b != o_old.banner])
            lab["phrasing_id"] = f"vendor:{o_old.banner}->{o_new.banner}"
        else:
            o_new.banner_text = o_old.banner_text + 1
            lab["phrasing_id"] = f"text:{o_old.banner}"
        o_new.banner_version = "202406.2.0"
        lab["description"] = "cookie banner changed"
    elif kind == "link_params":
        o_new.link_variant = o_old.link_variant + 1 + rng.randrange(3)
        lab["description"] = "link targets and tracking parameters changed"
        lab["phrasing_id"] = f"variant{o_new.link_variant % 4}"
    elif kind == "date_stamp":
        new.date = later_date(old.date, rng)
        lab["description"] = "last-updated date changed"
        lab["phrasing_id"] = old.company.date_fmt
    elif kind == "relative_date":
        a, b = rng.sample(RELATIVE, 2)
        o_old.relative, o_new.relative = a, b
        lab["description"] = f"relative date {a!r} -> {b!r}"
        lab["phrasing_id"] = "updated-ago"
    elif kind == "typography":
        map_policy_text(new, typographic, headings=True)
        lab["description"] = "curly quotes, dashes, non-breaking spaces"
        lab["phrasing_id"] = "typographic"
    elif kind == "zero_width":
        targets = rng.sample(range(len(new.sections)), 3)
        for i in targets:
            s = new.sections[i]
            for b in s.blocks:
                if hasattr(b, "text"):
                    b.text = zero_width(b.text, rng)
                else:
                    b.items = [zero_width(x, rng) for x in b.items]
        lab["description"] = "zero-width and soft-hyphen characters inserted in three sections"
        lab["phrasing_id"] = "zw"
    elif kind == "html_entities":
        o_new.entities = True
        lab["description"] = "characters written as HTML entities"
        lab["phrasing_id"] = "entities"
    elif kind == "attribute_churn":
        o_new.salt = "b" + str(rng.randrange(10 ** 6))
        lab["description"] = "class names, ids and data attributes changed"
        lab["phrasing_id"] = "salt"
    elif kind == "section_moved":
        lab["section_heading"] = move_section(new, rng)
        lab["expect_status"] = "moved"
        lab["description"] = f"section \"{lab['section_heading']}\" moved"
        lab["phrasing_id"] = "move"
    elif kind == "heading_renamed":
        a, b = rename_heading(new, rng)
        lab["section_heading"] = a
        lab["new_heading"] = b
        lab["expect_status"] = "renamed"
        lab["description"] = f"heading {a!r} -> {b!r}"
        lab["phrasing_id"] = "rename"
    elif kind == "typo_fix":
        lab["section_heading"] = inject_typos(old, rng)
        lab["description"] = "typos corrected"
        lab["phrasing_id"] = "typos"
    elif kind == "list_rebulleted":
        styles = [s for s in LIST_STYLES if s != o_old.list_default]
        if rng.random() < 0.5:
            o_new.list_default = rng.choice(styles)
            lab["phrasing_id"] = f"all:{o_new.list_default}"
        else:
            with_lists = [s.heading for s, _ in new.all_sections() if any(isinstance(b, Bullets) for b in s.blocks)]
            h = rng.choice(with_lists) if with_lists else ""
            o_new.list_override[h] = rng.choice(styles)
            lab["section_heading"] = h or None
            lab["phrasing_id"] = f"one:{o_new.list_override[h]}"
        lab["description"] = "list markup changed"
    elif kind == "synonym_swap":
        lab["section_heading"] = swap_synonyms(new, rng)
        lab["description"] = "wording changed without changing meaning"
        lab["phrasing_id"] = "synonyms"
    elif kind == "combined_noise":
        parts = ["date_stamp", "typography"]
        new.date = later_date(old.date, rng)
        map_policy_text(new, typographic, headings=True)
        if tpl in HTML_TEMPLATES:
            parts += ["nav_footer_churn", "cookie_banner_churn", "link_params"]
            o_new.nav = o_new.nav[:-1] + [rng.choice(NAV_EXTRAS)]
            o_new.banner_text = o_old.banner_text + 1
            o_new.link_variant = o_old.link_variant + 1
            o_new.reflow = "wrapped"
        else:
            parts.append("whitespace_reflow")
            o_new.wrap = 100 if tpl == "text" else 72
        lab["description"] = "several kinds of noise together: " + ", ".join(parts)
        lab["phrasing_id"] = "+".join(parts)
    else:
        raise ValueError(kind)
    return lab


# ----------------------------------------------------------------------------------------- cases


def make_case(idx: int, kind: str, material: bool, counter: int, seed: int) -> dict:
    rng = random.Random(f"{seed}:{idx}:{kind}")
    company = COMPANIES[(counter + rng.randrange(len(COMPANIES))) % len(COMPANIES)]
    base = build_policy(company, random.Random(f"{seed}:{company.id}:{idx % 3}"))
    old, new = base.clone(), base.clone()
    tpls = templates_for(kind)
    tpl = tpls[(counter * 5 + rng.randrange(len(tpls))) % len(tpls)]
    o_old = default_opts(old, tpl)
    o_old.banner_text = rng.randrange(3)
    o_old.link_variant = rng.randrange(4)
    o_new = copy.deepcopy(o_old)
    extra = []
    if material:
        category, direction, _ = MATERIAL_KINDS[kind]
        res = apply_material(kind, old, new, rng, counter)
        category = category or res.category
        lab = {"material": True, "category": category, "direction": direction,
               "expect_status": "added" if kind.startswith("section_added") else
               "removed" if kind.startswith("section_removed") else "modified",
               "section_heading": res.heading, "phrasing_id": res.phrasing_id, "description": res.description,
               "evidence": {"old": res.evidence_old, "new": res.evidence_new}}
        if rng.random() < 0.35:  # real updates usually bump the date too
            new.date = later_date(old.date, rng)
            extra.append("date_stamp")
    else:
        lab = {"material": False, "category": None, "direction": None}
        lab.update(apply_noise(kind, old, new, o_old, o_new, rng))
        lab["evidence"] = {"old": None, "new": None}
    if kind != "nav_footer_churn":  # the copyright year follows the policy date
        o_new.footer_year = max(o_old.footer_year, new.date[0])
    label = {
        "case_id": f"{idx:04d}-{kind}-{company.id}",
        "material": lab["material"], "category": lab["category"], "direction": lab["direction"],
        "expect_status": lab.get("expect_status"), "section_heading": lab.get("section_heading"),
        "edit": kind, "phrasing_id": lab.get("phrasing_id"), "template": o_old.template,
        "template_new": o_new.template, "company": company.id, "description": lab.get("description", ""),
        "evidence": lab["evidence"], "extra_noise": extra, "words": base.words(),
    }
    if "new_heading" in lab:
        label["new_heading"] = lab["new_heading"]
    return {"label": label, "old": render(old, o_old), "new": render(new, o_new),
            "ext_old": EXT[o_old.template], "ext_new": EXT[o_new.template]}


def plan(n: int) -> list[tuple[str, bool]]:
    n_noise = n // 2
    noise = [(NOISE_KINDS[i % len(NOISE_KINDS)], False) for i in range(n_noise)]
    mk = list(MATERIAL_KINDS)
    material = [(mk[i % len(mk)], True) for i in range(n - n_noise)]
    out = []
    for i in range(max(len(noise), len(material))):  # interleave, so --cases 40 is still a mix
        if i < len(noise):
            out.append(noise[i])
        if i < len(material):
            out.append(material[i])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=600, help="number of cases (default 600; half noise)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default bench/out/eval-cases)")
    args = ap.parse_args(argv)

    out = args.out
    if os.path.isdir(out) and os.listdir(out):
        manifest = os.path.join(out, "MANIFEST.json")
        try:
            with open(manifest, encoding="utf-8") as fh:
                ok = json.load(fh).get("generator") == GENERATOR
        except (OSError, ValueError):
            ok = False
        if not ok:
            print(f"generate: {out} is not empty and was not written by this generator; refusing to overwrite",
                  file=sys.stderr)
            return 2
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)

    counters: Counter = Counter()
    kinds: Counter = Counter()
    words = []
    for idx, (kind, material) in enumerate(plan(args.cases)):
        case = make_case(idx, kind, material, counters[kind], args.seed)
        counters[kind] += 1
        lab = case["label"]
        d = os.path.join(out, lab["case_id"])
        os.makedirs(d)
        with open(os.path.join(d, f"old.{case['ext_old']}"), "w", encoding="utf-8") as fh:
            fh.write(case["old"])
        with open(os.path.join(d, f"new.{case['ext_new']}"), "w", encoding="utf-8") as fh:
            fh.write(case["new"])
        with open(os.path.join(d, "label.json"), "w", encoding="utf-8") as fh:
            json.dump(lab, fh, indent=1, ensure_ascii=False)
        kinds[kind] += 1
        words.append(lab["words"])
    with open(os.path.join(out, "MANIFEST.json"), "w", encoding="utf-8") as fh:
        json.dump({"generator": GENERATOR, "seed": args.seed, "cases": args.cases,
                   "kinds": dict(sorted(kinds.items()))}, fh, indent=1)
    n_mat = sum(v for k, v in kinds.items() if k in MATERIAL_KINDS)
    print(f"generate: {args.cases} cases ({args.cases - n_mat} noise, {n_mat} material, {len(kinds)} edit kinds) "
          f"in {out}; base policies {min(words)}-{max(words)} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
