#!/usr/bin/env python3
"""Deterministic generator of realistic clinic pages for claimwatch's benchmark (issue 7).

    python bench/make_pages.py OUTDIR [-n 1000] [--seed S]
    python bench/make_pages.py OUTDIR [-n 1000] [--seed S] --mutate 0.1 [--mutate-seed S]

Writes OUTDIR/clinic-00000.html ... (15-40 KB each) and OUTDIR/index.txt (one file name per
line). Each page looks like a clinic's marketing page: head with inline CSS, JSON-LD and
analytics, a cookie banner, a header with dropdown menus and an off-canvas mobile menu, an
article of 6-20 prose paragraphs (outcome statistics cited and uncited, at-home offers, FDA
statements right and wrong, disclaimers, prices and discounts, doses, study sizes) with, on
some pages, stat counters, testimonial cards, an FAQ and a hero claim, a related-posts list, a
sidebar (recent posts, testimonials, newsletter, hours) and a footer (link columns, medical
disclaimer, copyright).

`--mutate FRACTION` regenerates the base pages and, for a deterministic FRACTION of them
(chosen by --mutate-seed), adds or changes 1-3 sentences in the article's prose. Only files
whose bytes differ are written, so the other pages keep their mtime (Last-Modified) and
content (ETag). A rewritten file's mtime is moved at least one second past its old one so a
client that sends only If-Modified-Since sees the change even when both writes fall within
the same second. The pages that differ from the base are listed in OUTDIR/mutated.txt.

Mutation is always relative to the base pages: `--mutate 0.1 --mutate-seed 2` after
`--mutate 0.1 --mutate-seed 1` changes the pages of seed 2 and restores those of seed 1.

Standard library only, so any Python 3.11 runs it; the benchmark must not depend on the code
it measures.
"""

from __future__ import annotations

import argparse
import html
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# ---------------------------------------------------------------------------- vocabulary

CLINICS = [
    "Ridgecrest Ketamine & Recovery", "Harborlight Infusion Center", "Clearwater Mind Clinic",
    "Northstar Recovery Medicine", "Blue Heron Wellness", "Summit Ketamine Institute",
    "Stillwater Integrative Psychiatry", "Lakeside Infusion Partners", "New Leaf Ketamine",
    "Cedar Grove Behavioral Health", "Beacon Addiction Medicine", "Juniper Infusion Therapy",
    "Riverbend Recovery Clinic", "Aspen Mind & Body", "Golden Hour Ketamine",
]
CITIES = [
    ("Boise", "ID"), ("Denver", "CO"), ("Portland", "OR"), ("Tucson", "AZ"), ("Tampa", "FL"),
    ("Nashville", "TN"), ("San Diego", "CA"), ("Columbus", "OH"), ("Raleigh", "NC"),
    ("Spokane", "WA"), ("Charlotte", "NC"), ("Madison", "WI"), ("Reno", "NV"),
    ("Albuquerque", "NM"), ("Omaha", "NE"), ("Richmond", "VA"),
]
CONDITIONS = [
    "alcohol use disorder", "opioid use disorder", "cocaine use disorder",
    "methamphetamine use disorder", "alcohol dependence", "opioid dependence",
    "substance use disorders", "co-occurring depression and addiction",
]
SHORT_CONDITIONS = ["alcoholism", "opioid addiction", "addiction", "alcohol addiction",
                    "drug addiction", "heavy drinking"]
TREATMENTS = ["IV ketamine", "ketamine infusion therapy", "ketamine-assisted psychotherapy",
              "low-dose ketamine", "sublingual ketamine", "our ketamine protocol"]
AUTHORS = ["Grabski", "Dakwar", "Krupitsky", "Krystal", "Das", "Jones", "Ezquerra-Romano",
           "Rothberg", "Wong", "McAndrew", "Sanacora", "Terasaki", "Feder", "Ivan Ezquerra"]
JOURNALS = ["Am J Psychiatry", "JAMA Psychiatry", "Lancet Psychiatry", "Addiction",
            "Biol Psychiatry", "Drug Alcohol Depend", "Neuropsychopharmacology",
            "J Subst Abuse Treat", "Front Psychiatry", "Nat Commun"]
OUTCOMES = ["Abstinence rates", "Remission rates", "Response rates", "Six-month sobriety rates",
            "One-year abstinence rates", "Relapse-free rates", "Patient satisfaction scores",
            "Ninety-day retention rates"]
SOBER = ["sober", "abstinent", "alcohol-free", "in recovery", "opioid-free", "drink-free"]
TIMEFRAMES = ["six months", "one year", "90 days", "three months", "a year", "twelve months"]
WORDS = ["care", "support", "recovery", "team", "patient", "wellness", "healing", "trusted",
         "compassionate", "evidence", "modern", "comfortable", "private", "results", "program",
         "journey", "hope", "future", "clinic", "science", "treatment", "plan", "personal",
         "community", "medical", "guide", "story", "insight", "family", "sleep", "stress",
         "mindset", "craving", "relapse", "therapy", "nutrition", "sober", "life"]
FIRST_NAMES = ["Dana", "Marcus", "Elena", "Jordan", "Priya", "Tom", "Keisha", "Luis", "Megan",
               "Sam", "Avery", "Nina", "Owen", "Rosa", "Caleb", "Hannah"]
HEADINGS = ["How ketamine therapy works", "What to expect at your first visit",
            "Why patients choose us", "Pricing and insurance", "Results", "Is ketamine safe?",
            "The science behind ketamine", "Your treatment plan", "Who is a good candidate?",
            "Our medical team", "After your infusion series", "Ketamine and recovery"]
MENU = ["Home", "About Us", "Conditions", "Treatments", "Ketamine Therapy",
        "Addiction Recovery", "At-Home Care", "Pricing", "Insurance", "Research", "Blog",
        "FAQ", "Careers", "Contact"]


def _cite(r: random.Random) -> str:
    """A citation in one of the forms clinic pages use."""
    a, y, j = r.choice(AUTHORS), r.randint(2009, 2024), r.choice(JOURNALS)
    style = r.random()
    if style < 0.35:
        return f"{a} et al., {y}"
    if style < 0.6:
        return f"{a} et al., {j}. {y}"
    if style < 0.8:
        return (f"{a} et al., {j}. {y};{r.randint(10, 190)}({r.randint(1, 12)}):"
                f"{r.randint(100, 899)}-{r.randint(900, 1200)}")
    if style < 0.9:
        return f"doi:10.{r.randint(1000, 9999)}/{r.choice(['ajp', 'jama', 'add', 'npp'])}." \
               f"{y}.{r.randint(10000, 99999)}"
    return f"PMID {r.randint(30000000, 39999999)}"


def _slots(r: random.Random, clinic: str, city: str) -> dict[str, object]:
    treat = r.choice(TREATMENTS)
    return {
        "pct": r.randint(52, 94), "pct_low": r.randint(4, 19), "disc": r.choice([10, 15, 20, 25]),
        "k": r.randint(3, 4), "m": 5, "x": r.randint(2, 5), "n": r.randint(3, 8),
        "n2": r.randint(9, 16), "size": r.choice([24, 40, 52, 96, 120, 186, 240, 312]),
        "sites": r.randint(2, 9), "weeks": r.choice([4, 6, 12, 24]),
        "dose": r.choice(["0.5", "0.6", "0.75", "0.8", "1.0"]), "mg": r.choice([100, 150, 200]),
        "mins": r.choice([40, 45, 50, 60]), "price": r.randint(35, 80) * 10,
        "price6": r.randint(20, 45) * 100, "monthly": r.randint(89, 299),
        "cite": _cite(r), "cond": r.choice(CONDITIONS), "short": r.choice(SHORT_CONDITIONS),
        "treat": treat, "Treat": treat[0].upper() + treat[1:], "city": city, "clinic": clinic,
        "outcome": r.choice(OUTCOMES), "sober": r.choice(SOBER), "time": r.choice(TIMEFRAMES),
        "year": r.randint(2012, 2021), "big": r.randint(4, 60) * 250,
        "journal": r.choice(JOURNALS), "word": r.choice(WORDS), "word2": r.choice(WORDS),
    }


# Sentence families with weights: most prose is harmless marketing; the rest is what the rules
# look for (claims) and what they must not flag (look-alikes, cited figures, disclaimers).
FAMILIES: dict[str, tuple[float, list[str]]] = {
    "filler": (0.42, [
        "At {clinic}, our compassionate team builds a personal plan around your goals.",
        "Recovery is not a straight line, and we walk with you through every stage of it.",
        "Our {city} clinic is a calm, private space designed to help you feel at ease.",
        "We coordinate with your therapist, sponsor or primary care doctor so nothing falls "
        "through the cracks.",
        "Every plan starts with a thorough medical and mental health evaluation.",
        "Many of our patients tried counseling, support groups and medication before they "
        "found us.",
        "Our care coordinators answer the phone seven days a week.",
        "You can bring headphones, a blanket or a favorite playlist to each session.",
        "Cravings, stress and poor sleep feed one another, which is why we treat the whole "
        "person.",
        "We believe everyone deserves a {word} path to lasting {word2}.",
        "Family members are welcome to join the intake visit and ask questions.",
        "Most appointments can be scheduled within a week of your first call.",
        "Integration sessions help you turn insights from treatment into daily habits.",
        "Our nurses check in with you by phone the day after each infusion.",
        "We have served the {city} community since {year}.",
        "Our clinic has performed more than {big} infusions since opening.",
        "Parking is free and the building is fully accessible.",
        "Learn how {treat} fits into a broader recovery plan with therapy and peer support.",
    ]),
    "outcome_uncited": (0.08, [
        "{pct}% of our patients with {cond} were still {sober} {time} after their last "
        "infusion.",
        "In our program, {k} out of {m} patients stay sober a year later.",
        "Patients who finish our protocol are {x} times more likely to remain abstinent.",
        "{outcome} reached {pct}% after the full series of {n} infusions.",
        "Real results: {pct}% of our clients say their cravings are gone after {n} sessions.",
        "Our relapse rate is just {pct_low}%, far below the national average.",
        "{pct}% of patients report a dramatic drop in cravings within {n} days.",
    ]),
    "outcome_cited": (0.06, [
        "{outcome} reached {pct}% in a randomized trial ({cite}).",
        "In a trial of {size} adults with {cond}, {pct}% of those given ketamine were abstinent "
        "at {weeks} weeks ({cite}).",
        "Compared with placebo, ketamine cut heavy drinking days by {pct}% ({cite}).",
        "A single infusion combined with therapy reduced relapse at {weeks} weeks ({cite}).",
    ]),
    "study": (0.04, [
        "A trial of {size} adults with {cond} compared ketamine with midazolam.",
        "The study enrolled {size} participants across {sites} sites.",
        "Researchers followed {size} patients for {weeks} weeks after their last infusion.",
    ]),
    "dose": (0.05, [
        "The usual dose is {dose} mg/kg infused over {mins} minutes.",
        "Sublingual lozenges are typically {mg} mg, held under the tongue for 15 minutes.",
        "Most protocols use {n} infusions of {dose} mg/kg over two to three weeks.",
        "Each session lasts about {mins} minutes, plus time to rest before you go home.",
    ]),
    "price": (0.06, [
        "A single infusion costs ${price}; a series of six is ${price6}.",
        "Veterans and first responders get {disc}% off their first infusion.",
        "Save {disc}% when you prepay for a full series of {n} infusions.",
        "Financing starts at ${monthly} per month with approved credit.",
        "Ask about our membership plan: {n} booster infusions for ${price6}.",
        "Insurance may cover your evaluation and therapy visits, but not the infusions.",
    ]),
    "at_home": (0.04, [
        "Try our at-home ketamine program: lozenges shipped to your door after a video visit.",
        "Start ketamine therapy from the comfort of your own home in {city}.",
        "Our online ketamine treatment lets you heal without leaving home.",
        "Patients self-administer ketamine lozenges during guided virtual sessions.",
    ]),
    "at_home_warning": (0.02, [
        "Unsupervised at-home ketamine use is not recommended because of the risk of misuse.",
        "We do not offer at-home ketamine; every dose is given in our clinic.",
        "You will need someone to drive you home after each infusion.",
    ]),
    "fda_wrong": (0.025, [
        "{Treat} is an FDA-approved treatment for {cond}.",
        "Our ketamine program for addiction uses FDA-cleared protocols.",
        "The FDA has approved ketamine for {short} treatment.",
    ]),
    "fda_right": (0.035, [
        "Ketamine is not FDA-approved for {cond}; using it for addiction is off-label.",
        "Ketamine has been an FDA-approved anesthetic since 1970.",
        "Spravato (esketamine) is FDA-approved for treatment-resistant depression, not for "
        "{cond}.",
    ]),
    "disclaimer": (0.06, [
        "Individual results may vary.",
        "Every infusion is given under the supervision of a board-certified anesthesiologist.",
        "This page is for informational purposes only and is not medical advice.",
        "Like any medical treatment, ketamine therapy carries risks.",
        "Ketamine is not right for everyone; discuss the risks and benefits with your doctor.",
    ]),
    "cure_guarantee": (0.02, [
        "Break free from {short} for good with our infusion series.",
        "Our treatment offers permanent relief from cravings.",
        "We guarantee lasting sobriety after {n} infusions.",
        "Ketamine is not a cure for addiction; it is one tool in a treatment plan.",
    ]),
    "safety": (0.02, [
        "Ketamine is completely safe when given in our clinic.",
        "Our infusions have no side effects and no downtime.",
        "Side effects such as dizziness or nausea are usually mild and pass within {n} hours.",
        "Ketamine is not risk-free, so we monitor your heart rate and blood pressure "
        "throughout.",
    ]),
    "efficacy": (0.03, [
        "Our clinically proven protocol reduces cravings in days.",
        "Studies have repeatedly shown excellent results for our patients.",
        "Early research suggests ketamine may help reduce cravings when combined with therapy.",
        "Research published in {journal} suggests ketamine could support abstinence "
        "({cite}).",
        "Evidence for ketamine in {cond} is still emerging, and larger trials are underway.",
    ]),
}
_FAMILY_NAMES = list(FAMILIES)
_FAMILY_WEIGHTS = [FAMILIES[f][0] for f in _FAMILY_NAMES]


def sentence(r: random.Random, clinic: str, city: str, family: str | None = None) -> str:
    """One sentence of article prose, drawn from a weighted family of templates."""
    fam = family or r.choices(_FAMILY_NAMES, _FAMILY_WEIGHTS)[0]
    template = r.choice(FAMILIES[fam][1])
    return template.format(**_slots(r, clinic, city))


# --------------------------------------------------------------------------------- model

@dataclass
class Page:
    """One page as parts: chrome around the article, and the article as blocks.

    Blocks are ("p", [sentences]), ("h2", text) or ("html", markup for a widget). Mutation edits
    only "p" blocks and re-renders; everything else, padding included, stays the same.
    """

    name: str
    head: str
    before: str
    blocks: list[tuple[str, object]]
    related: list[str]
    after: str
    clinic: str
    city: str
    padding: int = 0
    prose: list[int] = field(default_factory=list)  # indexes of "p" blocks

    def render(self, padding: int | None = None) -> str:
        """The page's HTML; without `padding`, enough related posts to reach the target size."""
        parts = [self.head, self.before, '<article class="entry">\n']
        for kind, value in self.blocks:
            if kind == "p":
                parts.append("<p>" + html.escape(" ".join(value), quote=False) + "</p>\n")
            elif kind == "h2":
                parts.append(f'<h2 class="wp-block-heading">{html.escape(str(value))}</h2>\n')
            else:
                parts.append(str(value))
        parts.append("</article>\n")
        count = self.padding if padding is None else padding
        if count:
            parts.append('<section class="related-posts"><h3>Related articles</h3><ul>\n'
                         + "".join(self.related[:count]) + "</ul></section>\n")
        parts.append(self.after)
        return "".join(parts)


def _nav(r: random.Random, clinic: str, phone: str) -> str:
    items = []
    for item in [m for m in MENU if m == "Home" or r.random() < 0.6]:
        slug = item.lower().replace(" ", "-").replace("&", "and")
        subs = "".join(
            f'<li class="menu-item"><a href="/{slug}/{w}-{k}/">{w.title()} {k + 1}</a></li>'
            for k, w in enumerate(r.sample(WORDS, r.randint(2, 5))))
        items.append(f'<li class="menu-item menu-item-has-children dropdown">'
                     f'<a class="nav-link dropdown-toggle" href="/{slug}/">{item}</a>'
                     f'<ul class="sub-menu dropdown-menu">{subs}</ul></li>\n')
    menu = "".join(items)
    mobile = (f'<div id="offcanvas-menu" class="offcanvas mobile-menu" aria-hidden="true">'
              f'<ul class="mobile-nav">\n{menu}</ul></div>\n') if r.random() < 0.4 else ""
    return (f'<div class="top-bar"><span class="phone"><a href="tel:{phone}">{phone}</a></span>'
            f'<span class="hours">Mon-Fri 8am-6pm</span></div>\n'
            f'<header class="site-header" role="banner"><div class="container">'
            f'<a class="custom-logo-link" href="/"><img src="/wp-content/uploads/logo.svg" '
            f'alt="{html.escape(clinic)}" width="200" height="56"></a>\n'
            f'<nav class="main-navigation" aria-label="Primary"><ul id="primary-menu" class="menu">'
            f'\n{menu}</ul></nav>\n<a class="button header-cta" href="/book/">Book a free '
            f'consultation</a></div></header>\n{mobile}')


def _cookie_banner() -> str:
    return ('<div id="cmplz-cookiebanner" class="cmplz-cookiebanner cookie-consent" '
            'role="dialog" aria-live="polite"><div class="cmplz-message"><p>We use cookies to '
            'improve your experience, analyze site traffic and personalize content. By '
            'clicking "Accept all" you consent to our use of cookies. Read our '
            '<a href="/privacy-policy/">Privacy Policy</a> and <a href="/cookie-policy/">Cookie '
            'Policy</a>.</p></div><div class="cmplz-buttons"><button class="cmplz-accept">'
            'Accept all</button><button class="cmplz-deny">Reject non-essential</button>'
            '<button class="cmplz-view-preferences">Manage preferences</button></div></div>\n')


def _testimonial(r: random.Random, css: str) -> str:
    name = f"{r.choice(FIRST_NAMES)} {r.choice('ABCDEFGHJKLMNPRSTW')}."
    city, _ = r.choice(CITIES)
    quote = r.choice([
        "Ketamine gave me my life back. I haven't had a drink since {month}.",
        "After years of trying everything, the cravings finally stopped. I've been sober for "
        "{n} months.",
        "The staff treated me like family. I walked in hopeless and walked out with a plan.",
        "I was skeptical, but after {n} infusions I feel like myself again.",
        "I have been opioid-free for {n} months and I finally sleep through the night.",
    ]).format(month=r.choice(["March", "June", "October", "New Year's"]), n=r.randint(3, 18))
    stars = "".join('<span class="star">&#9733;</span>' for _ in range(5))
    return (f'<div class="{css}"><div class="stars" aria-label="5 stars">{stars}</div>'
            f'<blockquote><p>&ldquo;{html.escape(quote)}&rdquo;</p></blockquote>'
            f'<p class="testimonial-name">&mdash; {name}, {city}</p></div>\n')


def _counters(r: random.Random) -> str:
    captions = [
        ("%", "Of our alcohol-use patients were still sober six months after their last "
              "infusion."),
        ("%", "Reported fewer cravings after their first week of treatment."),
        ("x", "More likely to stay in recovery than with counseling alone."),
        ("+", "Infusions performed by our board-certified team."),
        ("%", "Of patients would recommend us to a friend or family member."),
    ]
    out = []
    for suffix, caption in r.sample(captions, r.randint(2, 4)):
        number = {"%": r.randint(60, 95), "x": r.randint(2, 4), "+": r.randint(2, 40) * 500}
        out.append(
            f'<div class="elementor-widget elementor-widget-counter">'
            f'<div class="elementor-counter">'
            f'<div class="elementor-counter-number-wrapper"><span class="elementor-counter-number"'
            f' data-to-value="{number[suffix]}">{number[suffix]}</span><span class="elementor-'
            f'counter-number-suffix">{suffix}</span></div><div class="elementor-counter-title">'
            f'{caption}</div></div></div>\n')
    return ('<section class="stats-section"><div class="elementor-container">\n'
            + "".join(out) + "</div></section>\n")


def _faq(r: random.Random, clinic: str, city: str) -> str:
    qas = [
        ("Is ketamine FDA-approved for addiction?",
         "No. Ketamine is approved as an anesthetic; its use for substance use disorders is "
         "off-label."),
        ("How many infusions will I need?",
         "Most patients start with a series of {n} infusions over two to three weeks."),
        ("Does insurance cover ketamine therapy?",
         "Most plans do not cover the infusions themselves; we provide superbills on request."),
        ("Can ketamine cure addiction?",
         "Ketamine is not a cure. It can be one part of a recovery plan that includes therapy."),
        ("Is ketamine addictive?",
         "Ketamine can be habit-forming when misused, which is why every dose is given in our "
         "clinic."),
    ]
    out = ['<section class="faq"><h2>Frequently asked questions</h2>\n']
    for q, a in r.sample(qas, r.randint(2, 4)):
        out.append(f'<div class="faq-item"><h3 class="faq-question">{q}</h3>'
                   f'<div class="faq-answer"><p>{a.format(n=r.randint(4, 6))}</p></div></div>\n')
    out.append("</section>\n")
    return "".join(out)


def _hero(r: random.Random, clinic: str, city: str) -> str:
    line = r.choice([
        "Break free from addiction for good.",
        "Real recovery starts here.",
        "A new path to sobriety, backed by science.",
        "The ideal treatment for alcohol and opioid dependence.",
    ])
    return (f'<div class="hero-banner"><p class="hero-kicker">{html.escape(clinic)} &middot; '
            f'{city}</p><p class="hero-title">{html.escape(line)}</p><a class="button" '
            f'href="/book/">Start today</a></div>\n')


def _sidebar(r: random.Random, clinic: str, city: str, state: str) -> str:
    posts = "".join(
        f'<li><a href="/blog/{"-".join(r.sample(WORDS, 4))}/">'
        f'{" ".join(r.sample(WORDS, 5)).title()}</a><span class="post-date">'
        f'{r.choice(["Jan", "Mar", "May", "Aug", "Oct", "Dec"])} {r.randint(1, 28)}, '
        f'{r.randint(2019, 2025)}</span></li>\n' for _ in range(r.randint(5, 10)))
    tests = "".join(_testimonial(r, "testimonial widget-testimonial")
                    for _ in range(r.randint(1, 3)))
    return (f'<aside id="secondary" class="sidebar widget-area" role="complementary">\n'
            f'<section class="widget widget_recent_entries"><h3 class="widget-title">Recent '
            f'posts</h3><ul>\n{posts}</ul></section>\n'
            f'<section class="widget widget_testimonials"><h3 class="widget-title">What our '
            f'patients say</h3>\n{tests}</section>\n'
            f'<section class="widget widget_newsletter"><h3 class="widget-title">Newsletter</h3>'
            f'<form action="/subscribe/" method="post"><label for="nl-email">Email</label>'
            f'<input id="nl-email" type="email" name="email" placeholder="you@example.com">'
            f'<button type="submit">Subscribe</button></form></section>\n'
            f'<section class="widget widget_hours"><h3 class="widget-title">Hours</h3>'
            f'<p>Mon-Fri 8am-6pm &middot; Sat 9am-1pm</p><p>{html.escape(clinic)}, '
            f'{r.randint(100, 9999)} {r.choice(["Main St", "Oak Ave", "Elm Blvd", "Park Rd"])}, '
            f'{city}, {state}</p></section>\n</aside>\n')


def _footer(r: random.Random, clinic: str) -> str:
    columns = {
        "Treatments": TREATMENTS, "Conditions": CONDITIONS,
        "Locations": [c for c, _ in r.sample(CITIES, 6)],
        "Company": ["About", "Our Team", "Press", "Careers", "Partners", "Contact"],
    }
    cols = "".join(
        f'<div class="footer-col"><h4>{title}</h4><ul>'
        + "".join(f'<li><a href="/{title.lower()}/{x.lower().replace(" ", "-")}/">{x}</a></li>'
                  for x in links) + "</ul></div>\n"
        for title, links in columns.items())
    social = "".join(f'<a class="social-{s}" href="https://{s}.com/example">{s.title()}</a>'
                     for s in ("facebook", "instagram", "linkedin", "youtube"))
    return (f'<footer id="colophon" class="site-footer" role="contentinfo">\n'
            f'<div class="footer-widgets">\n{cols}</div>\n'
            f'<div class="footer-disclaimer"><p><strong>Medical disclaimer:</strong> The '
            f'information on this website is for educational purposes only and is not a '
            f'substitute for professional medical advice, diagnosis or treatment. If you are in '
            f'crisis, call or text 988 or go to the nearest emergency room.</p></div>\n'
            f'<div class="site-info"><p class="copyright">&copy; {r.randint(2016, 2025)} '
            f'{html.escape(clinic)}. All rights reserved. <a href="/privacy-policy/">Privacy</a> '
            f'| <a href="/terms/">Terms</a> | <a href="/hipaa/">HIPAA Notice</a></p>'
            f'<div class="social-links">{social}</div></div>\n</footer>\n')


_CSS_RULES = [f".wp-c{i}{{margin:{i % 13}px {i % 5}px;padding:{i % 7}px;"
              f"color:#{(i * 2654435761) % 0xFFFFFF:06x}}}" for i in range(90)]


def _head(r: random.Random, idx: int, title: str, clinic: str, city: str, phone: str,
          description: str) -> str:
    ld = (f'{{"@context":"https://schema.org","@type":"MedicalClinic","name":"{clinic}",'
          f'"telephone":"{phone}","address":{{"@type":"PostalAddress","addressLocality":'
          f'"{city}"}},"medicalSpecialty":"Psychiatric"}}')
    return (f'<!DOCTYPE html>\n<html lang="en-US">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{html.escape(title)}</title>\n'
            f'<meta name="description" content="{html.escape(description)}">\n'
            f'<meta property="og:title" content="{html.escape(title)}">\n'
            f'<link rel="canonical" href="https://clinic-{idx:05d}.example/">\n'
            f'<link rel="stylesheet" href="/wp-content/themes/clinic/style.css?ver=6.{idx % 9}">\n'
            f'<style id="global-styles-inline-css">{"".join(_CSS_RULES[:r.randint(10, 90)])}'
            f'</style>\n'
            f'<script type="application/ld+json">{ld}</script>\n'
            f'<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push('
            f'arguments);}}gtag("js",new Date());gtag("config","G-{r.randint(10**8, 10**9)}");'
            f'</script>\n</head>\n<body class="page-template-default page page-id-{idx}">\n'
            f'<a class="skip-link screen-reader-text" href="#main">Skip to content</a>\n')


def _related(r: random.Random) -> str:
    return (f'<li class="related-post"><a href="/blog/{"-".join(r.sample(WORDS, 5))}/">'
            f'{" ".join(r.sample(WORDS, 6)).title()}</a><p class="excerpt">'
            f'{" ".join(r.sample(WORDS, 14)).capitalize()}.</p></li>\n')


def build(idx: int, seed: int) -> Page:
    """The base page `idx` for `seed`; rendering it gives the same bytes on every run."""
    chrome = random.Random(f"chrome:{seed}:{idx}")
    prose = random.Random(f"prose:{seed}:{idx}")
    pad = random.Random(f"pad:{seed}:{idx}")
    clinic = chrome.choice(CLINICS)
    city, state = chrome.choice(CITIES)
    treat = chrome.choice(TREATMENTS)
    cond = chrome.choice(CONDITIONS)
    phone = f"({chrome.randint(200, 989)}) 555-{chrome.randint(1000, 9999)}"
    h1 = f"{treat[0].upper() + treat[1:]} for {cond} in {city}"
    title = f"{h1} | {clinic}"
    head = _head(chrome, idx, title, clinic, city, phone, sentence(chrome, clinic, city))
    before = _cookie_banner() + _nav(chrome, clinic, phone) + (
        '<div id="content" class="site-content container">\n'
        '<main id="main" class="site-main" role="main">\n'
        f'<h1 class="entry-title">{html.escape(h1)}</h1>\n'
        f'<p class="byline">Medically reviewed by Dr. {chrome.choice(AUTHORS)}, MD &middot; '
        f'Updated {chrome.choice(["January", "April", "July", "October"])} '
        f'{chrome.randint(1, 28)}, {chrome.randint(2022, 2025)}</p>\n')
    if chrome.random() < 0.2:
        before += _hero(chrome, clinic, city)

    blocks: list[tuple[str, object]] = []
    n_paras = prose.randint(6, 20)
    widgets = {
        "counters": chrome.random() < 0.4,
        "testimonials": chrome.random() < 0.35,
        "faq": chrome.random() < 0.3,
    }
    headings = prose.sample(HEADINGS, len(HEADINGS))
    for k in range(n_paras):
        if k and k % prose.randint(2, 4) == 0 and headings:
            blocks.append(("h2", headings.pop()))
        blocks.append(("p", [sentence(prose, clinic, city) for _ in range(prose.randint(3, 7))]))
        if k == 1 and widgets["counters"]:
            blocks.append(("html", _counters(chrome)))
        if k == 3 and widgets["testimonials"]:
            cards = "".join(_testimonial(chrome, "testimonial-card")
                            for _ in range(chrome.randint(1, 3)))
            blocks.append(("html", '<div class="testimonials-grid">\n' + cards + "</div>\n"))
        if k == 2:
            blocks.append(("html", '<div class="cta-box"><p>Ready to take the first step? Book '
                                   'a free 15-minute consultation.</p><a class="button" '
                                   'href="/book/">Schedule now</a></div>\n'))
    if widgets["faq"]:
        blocks.append(("html", _faq(chrome, clinic, city)))

    after = ("</main>\n" + _sidebar(chrome, clinic, city, state) + "</div>\n"
             + _footer(chrome, clinic)
             + '<script src="/wp-content/themes/clinic/app.js?ver=3.1" defer></script>\n'
             + "</body>\n</html>\n")
    page = Page(f"clinic-{idx:05d}.html", head, before, blocks,
                [_related(pad) for _ in range(120)], after, clinic, city,
                prose=[i for i, (kind, _) in enumerate(blocks) if kind == "p"])
    target = pad.randint(15_000, 40_000)
    size = len(page.render(0).encode())
    while page.padding < len(page.related) and size < target:
        size += len(page.related[page.padding].encode())
        page.padding += 1
    return page


def mutate(page: Page, idx: int, mutate_seed: int) -> list[str]:
    """Add or change 1-3 sentences in the page's prose; returns the new sentences."""
    r = random.Random(f"mutate:{mutate_seed}:{idx}")
    new: list[str] = []
    for _ in range(r.randint(1, 3)):
        block = r.choice(page.prose)
        sentences = list(page.blocks[block][1])  # type: ignore[arg-type]
        fresh = sentence(r, page.clinic, page.city)
        while fresh in sentences or fresh in new:
            fresh = sentence(r, page.clinic, page.city)
        pos = r.randrange(len(sentences) + 1)
        if pos < len(sentences) and r.random() < 0.5:
            sentences[pos] = fresh  # changed
        else:
            sentences.insert(pos, fresh)  # added
        page.blocks[block] = ("p", sentences)
        new.append(fresh)
    return new


# --------------------------------------------------------------------------------- files

def chosen(n: int, fraction: float, mutate_seed: int) -> list[int]:
    """The page indexes `--mutate FRACTION --mutate-seed S` changes, sorted."""
    count = round(fraction * n)
    return sorted(random.Random(f"choose:{mutate_seed}").sample(range(n), count))


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` unless the file already holds it; True if written.

    A rewritten file's mtime moves at least one second past the old one, so Last-Modified
    (whole seconds) changes even when two generations happen within one second.
    """
    try:
        old = path.read_bytes()
        old_mtime = path.stat().st_mtime
    except FileNotFoundError:
        old, old_mtime = None, None
    if old == data:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    if old_mtime is not None:
        stamp = max(time.time(), float(int(old_mtime) + 1))
        os.utime(path, (stamp, stamp))
    return True


@dataclass
class Summary:
    """What one run of the generator did."""

    pages: int
    written: int
    bytes: int
    mutated: list[str]
    sizes: list[int]


def generate(outdir: str | Path, n: int = 1000, seed: int = 1, *, mutate_fraction: float | None
             = None, mutate_seed: int = 1) -> Summary:
    """Write the N pages (mutated if asked) into `outdir`, index.txt and mutated.txt."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    picks = set(chosen(n, mutate_fraction, mutate_seed)) if mutate_fraction else set()
    names, sizes, mutated = [], [], []
    written = 0
    for idx in range(n):
        page = build(idx, seed)
        if idx in picks:
            mutate(page, idx, mutate_seed)
            mutated.append(page.name)
        data = page.render().encode("utf-8")
        written += write_if_changed(out / page.name, data)
        names.append(page.name)
        sizes.append(len(data))
    write_if_changed(out / "index.txt", ("\n".join(names) + "\n").encode())
    marker = out / "mutated.txt"
    if mutate_fraction is not None:
        write_if_changed(marker, "".join(f"{m}\n" for m in mutated).encode())
    elif marker.exists():
        marker.unlink()
    return Summary(n, written, sum(sizes), mutated, sizes)


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("-n", type=int, default=1000, help="number of pages (default 1000)")
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    ap.add_argument("--mutate", type=float, default=None, metavar="FRACTION",
                    help="change this fraction of the pages (0..1) in place")
    ap.add_argument("--mutate-seed", type=int, default=1, help="which pages and how")
    a = ap.parse_args(argv)
    if a.n < 1 or (a.mutate is not None and not 0 <= a.mutate <= 1):
        ap.error("-n must be >= 1 and --mutate between 0 and 1")
    s = generate(a.outdir, a.n, a.seed, mutate_fraction=a.mutate, mutate_seed=a.mutate_seed)
    print(f"{s.pages} pages, {s.bytes / 1e6:.1f} MB (min {min(s.sizes) / 1024:.1f} KiB, "
          f"max {max(s.sizes) / 1024:.1f} KiB), {s.written} files written, "
          f"{len(s.mutated)} mutated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
