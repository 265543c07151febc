#!/usr/bin/python3
"""gencorpus.py DIR COUNT [SEED] - write COUNT realistic customer messages to DIR/NNNNN.eml.

The mix the benchmarks need: most messages 2-20 KB of text, about a third
multipart/alternative with an HTML part, about 10% carrying a 50 KB-1 MB
attachment (PDF- or image-like random bytes, base64), a few in other charsets
and with RFC 2047 subjects, some replies with In-Reply-To/References.
Deterministic for a given SEED, so every program measured reads the same mail.
"""
import os
import random
import sys
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timedelta, timezone

WORDS = ("order invoice delivery refund account password parcel tracking please "
         "thanks hello urgent question subscription renewal discount price quote "
         "shipping address payment card bank transfer warranty broken replace "
         "commande facture livraison remboursement merci bonjour colis adresse "
         "Bestellung Rechnung Lieferung danke über größe café naïve résumé").split()
NAMES = ["Zoë Martin", "Jürgen Groß", "Ana Peña", "Li Wei", "Olivia Smith", "Kenji Sato",
         "Fatima Zahra", "Søren Kierkegaard", "Chloé Dubois", "Mohammed Ali"]


def paragraph(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def text_of(rng, size):
    out, total = [], 0
    while total < size:
        p = paragraph(rng, rng.randint(8, 40))
        out.append(p)
        total += len(p) + 2
    return "\n\n".join(out) + "\n"


def message(rng, i, ids, start):
    msg = EmailMessage()
    name = rng.choice(NAMES)
    addr = "customer%d@example.net" % rng.randint(1, 400)
    msg["From"] = "%s <%s>" % (name, addr)
    msg["To"] = "Support <support@example.com>"
    subject = paragraph(rng, rng.randint(3, 8))[:-1]
    if ids and rng.random() < 0.2:
        parent = rng.choice(ids)
        msg["Subject"] = "Re: " + subject
        msg["In-Reply-To"] = parent
        msg["References"] = parent
    else:
        msg["Subject"] = subject
    msg["Date"] = format_datetime(start + timedelta(minutes=i))
    mid = make_msgid(idstring=str(i), domain="example.net")
    msg["Message-ID"] = mid
    ids.append(mid)
    body = text_of(rng, int(rng.triangular(2000, 20000, 5000)))
    charset = "utf-8" if rng.random() < 0.9 else "iso-8859-1"
    try:
        msg.set_content(body, charset=charset)
    except UnicodeEncodeError:
        msg.set_content(body)
    if rng.random() < 0.33:
        html = "<html><body>" + "".join(
            "<p>%s</p>" % p for p in body.split("\n\n")) + "</body></html>"
        msg.add_alternative(html, subtype="html")
    if rng.random() < 0.10:
        size = int(rng.uniform(50_000, 1_000_000))
        data = rng.randbytes(size)
        kind = rng.choice([("application", "pdf", "invoice-%d.pdf" % i),
                           ("image", "jpeg", "photo-%d.jpg" % i)])
        msg.add_attachment(data, maintype=kind[0], subtype=kind[1], filename=kind[2])
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, count = sys.argv[1], int(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    os.makedirs(out, exist_ok=True)
    ids = []
    start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    for i in range(count):
        with open(os.path.join(out, "%05d.eml" % i), "wb") as f:
            f.write(message(rng, i, ids, start))


if __name__ == "__main__":
    main()
