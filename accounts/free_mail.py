"""Free and personal mail providers: a sign-up from one of these domains says nothing about
the company the person works for (no company domain; a weaker fit signal for scoring).

Kept by hand from the providers most seen in B2B sign-ups worldwide; add a domain when
sign-ups show one that is missing. Lower case, without a leading "@"."""

FREE_MAIL_DOMAINS = frozenset(
    {
        # Google, Microsoft, Yahoo, Apple, AOL
        "gmail.com", "googlemail.com",
        "outlook.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de",
        "hotmail.it", "hotmail.es", "live.com", "live.co.uk", "live.fr", "msn.com",
        "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.es", "yahoo.it",
        "yahoo.co.jp", "yahoo.com.br", "yahoo.co.in", "ymail.com", "rocketmail.com",
        "icloud.com", "me.com", "mac.com",
        "aol.com", "aim.com",
        # Privacy-minded and independent providers
        "proton.me", "protonmail.com", "pm.me", "tutanota.com", "tuta.io", "fastmail.com",
        "fastmail.fm", "hey.com", "zoho.com", "zohomail.com", "mailbox.org", "posteo.de",
        "hushmail.com", "gmx.com", "gmx.net", "gmx.de", "gmx.at", "gmx.ch", "mail.com",
        "email.com", "inbox.com",
        # Europe
        "web.de", "t-online.de", "freenet.de", "orange.fr", "wanadoo.fr", "free.fr",
        "laposte.net", "sfr.fr", "libero.it", "virgilio.it", "tiscali.it", "alice.it",
        "seznam.cz", "wp.pl", "o2.pl", "onet.pl", "interia.pl", "btinternet.com",
        "sky.com", "virginmedia.com", "ntlworld.com", "telenet.be", "skynet.be",
        "bluewin.ch", "ziggo.nl", "planet.nl", "home.nl",
        # Russia and neighbours
        "yandex.ru", "yandex.com", "ya.ru", "mail.ru", "bk.ru", "list.ru", "inbox.ru",
        "rambler.ru", "ukr.net",
        # Asia, Latin America, elsewhere
        "qq.com", "163.com", "126.com", "sina.com", "sohu.com", "yeah.net", "aliyun.com",
        "naver.com", "daum.net", "hanmail.net", "rediffmail.com", "uol.com.br",
        "bol.com.br", "terra.com.br", "comcast.net", "verizon.net", "att.net",
        "sbcglobal.net", "bellsouth.net", "cox.net", "charter.net", "earthlink.net",
        "shaw.ca", "rogers.com", "sympatico.ca", "bigpond.com", "optusnet.com.au",
        "xtra.co.nz",
    }
)  # fmt: skip


def is_free_mail(domain: str) -> bool:
    """Whether ``domain`` (any letter case) is a free or personal mail provider."""
    return domain.strip().lower() in FREE_MAIL_DOMAINS
