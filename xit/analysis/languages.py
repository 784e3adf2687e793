"""Family and script of the evaluation languages, to sort per-language figures readably.

Codes are the ones the result rows carry: LASER three-letter codes for Tatoeba (all 112
LASER test languages) and two-letter ISO 639-1 codes for XQuAD-R/LAReQA and BUCC.
Script is the dominant script of the *Tatoeba test sentences* (checked on the data:
Serbian and Uzbek mix Latin and Cyrillic there), not of the language in general.
"""

from __future__ import annotations

import io

import pandas as pd

# code, iso, name, family, branch, script
_TABLE = """\
code,iso,name,family,branch,script
eng,en,English,Indo-European,Germanic,Latin
afr,af,Afrikaans,Indo-European,Germanic,Latin
nld,nl,Dutch,Indo-European,Germanic,Latin
deu,de,German,Indo-European,Germanic,Latin
gsw,,Swiss German,Indo-European,Germanic,Latin
swg,,Swabian,Indo-European,Germanic,Latin
nds,,Low German,Indo-European,Germanic,Latin
fry,fy,Western Frisian,Indo-European,Germanic,Latin
ang,,Old English,Indo-European,Germanic,Latin
dan,da,Danish,Indo-European,Germanic,Latin
swe,sv,Swedish,Indo-European,Germanic,Latin
nob,nb,Norwegian Bokmål,Indo-European,Germanic,Latin
nno,nn,Norwegian Nynorsk,Indo-European,Germanic,Latin
isl,is,Icelandic,Indo-European,Germanic,Latin
fao,fo,Faroese,Indo-European,Germanic,Latin
yid,yi,Yiddish,Indo-European,Germanic,Hebrew
fra,fr,French,Indo-European,Romance,Latin
spa,es,Spanish,Indo-European,Romance,Latin
por,pt,Portuguese,Indo-European,Romance,Latin
ita,it,Italian,Indo-European,Romance,Latin
ron,ro,Romanian,Indo-European,Romance,Latin
cat,ca,Catalan,Indo-European,Romance,Latin
glg,gl,Galician,Indo-European,Romance,Latin
ast,,Asturian,Indo-European,Romance,Latin
oci,oc,Occitan,Indo-European,Romance,Latin
pms,,Piedmontese,Indo-European,Romance,Latin
lat,la,Latin,Indo-European,Romance,Latin
rus,ru,Russian,Indo-European,Slavic,Cyrillic
ukr,uk,Ukrainian,Indo-European,Slavic,Cyrillic
bel,be,Belarusian,Indo-European,Slavic,Cyrillic
bul,bg,Bulgarian,Indo-European,Slavic,Cyrillic
mkd,mk,Macedonian,Indo-European,Slavic,Cyrillic
orv,,Old East Slavic,Indo-European,Slavic,Cyrillic
srp,sr,Serbian,Indo-European,Slavic,Latin/Cyrillic
hrv,hr,Croatian,Indo-European,Slavic,Latin
bos,bs,Bosnian,Indo-European,Slavic,Latin
slv,sl,Slovenian,Indo-European,Slavic,Latin
pol,pl,Polish,Indo-European,Slavic,Latin
ces,cs,Czech,Indo-European,Slavic,Latin
slk,sk,Slovak,Indo-European,Slavic,Latin
csb,,Kashubian,Indo-European,Slavic,Latin
dsb,,Lower Sorbian,Indo-European,Slavic,Latin
hsb,,Upper Sorbian,Indo-European,Slavic,Latin
lit,lt,Lithuanian,Indo-European,Baltic,Latin
lvs,lv,Latvian,Indo-European,Baltic,Latin
cym,cy,Welsh,Indo-European,Celtic,Latin
bre,br,Breton,Indo-European,Celtic,Latin
cor,kw,Cornish,Indo-European,Celtic,Latin
gle,ga,Irish,Indo-European,Celtic,Latin
gla,gd,Scottish Gaelic,Indo-European,Celtic,Latin
ell,el,Greek,Indo-European,Hellenic,Greek
sqi,sq,Albanian,Indo-European,Albanian,Latin
hye,hy,Armenian,Indo-European,Armenian,Armenian
pes,fa,Persian,Indo-European,Iranian,Arabic
kur,ku,Kurdish (Kurmanji),Indo-European,Iranian,Latin
hin,hi,Hindi,Indo-European,Indo-Aryan,Devanagari
mar,mr,Marathi,Indo-European,Indo-Aryan,Devanagari
awa,,Awadhi,Indo-European,Indo-Aryan,Devanagari
ben,bn,Bengali,Indo-European,Indo-Aryan,Bengali
urd,ur,Urdu,Indo-European,Indo-Aryan,Arabic
ara,ar,Arabic,Afro-Asiatic,Semitic,Arabic
arq,,Algerian Arabic,Afro-Asiatic,Semitic,Arabic
arz,,Egyptian Arabic,Afro-Asiatic,Semitic,Arabic
heb,he,Hebrew,Afro-Asiatic,Semitic,Hebrew
amh,am,Amharic,Afro-Asiatic,Semitic,Ethiopic
ber,,Berber,Afro-Asiatic,Berber,Latin
kab,,Kabyle,Afro-Asiatic,Berber,Latin
fin,fi,Finnish,Uralic,Finnic,Latin
est,et,Estonian,Uralic,Finnic,Latin
hun,hu,Hungarian,Uralic,Ugric,Latin
mhr,,Meadow Mari,Uralic,Mari,Cyrillic
tur,tr,Turkish,Turkic,Oghuz,Latin
aze,az,Azerbaijani,Turkic,Oghuz,Latin
tuk,tk,Turkmen,Turkic,Oghuz,Latin
uzb,uz,Uzbek,Turkic,Karluk,Latin/Cyrillic
uig,ug,Uyghur,Turkic,Karluk,Arabic
kaz,kk,Kazakh,Turkic,Kipchak,Cyrillic
tat,tt,Tatar,Turkic,Kipchak,Cyrillic
mon,mn,Mongolian,Mongolic,Mongolic,Cyrillic
kat,ka,Georgian,Kartvelian,Kartvelian,Georgian
eus,eu,Basque,Basque (isolate),Basque,Latin
cmn,zh,Chinese (Mandarin),Sino-Tibetan,Sinitic,Han
yue,,Cantonese,Sino-Tibetan,Sinitic,Han
wuu,,Wu Chinese,Sino-Tibetan,Sinitic,Han
jpn,ja,Japanese,Japonic,Japonic,Japanese
kor,ko,Korean,Koreanic,Koreanic,Hangul
tha,th,Thai,Kra-Dai,Tai,Thai
vie,vi,Vietnamese,Austroasiatic,Vietic,Latin
khm,km,Khmer,Austroasiatic,Khmeric,Khmer
ind,id,Indonesian,Austronesian,Malayic,Latin
zsm,ms,Malay,Austronesian,Malayic,Latin
max,,North Moluccan Malay,Austronesian,Malayic,Latin
jav,jv,Javanese,Austronesian,Javanese,Latin
tgl,tl,Tagalog,Austronesian,Philippine,Latin
ceb,,Cebuano,Austronesian,Philippine,Latin
war,,Waray,Austronesian,Philippine,Latin
pam,,Kapampangan,Austronesian,Philippine,Latin
cha,ch,Chamorro,Austronesian,Chamorro,Latin
dtp,,Kadazan Dusun,Austronesian,North Borneo,Latin
kzj,,Coastal Kadazan,Austronesian,North Borneo,Latin
tam,ta,Tamil,Dravidian,South Dravidian,Tamil
mal,ml,Malayalam,Dravidian,South Dravidian,Malayalam
tel,te,Telugu,Dravidian,South-Central Dravidian,Telugu
swh,sw,Swahili,Niger-Congo,Bantu,Latin
xho,xh,Xhosa,Niger-Congo,Bantu,Latin
cbk,,Chavacano,Creole,Spanish-based,Latin
epo,eo,Esperanto,Constructed,Constructed,Latin
ido,io,Ido,Constructed,Constructed,Latin
ina,ia,Interlingua,Constructed,Constructed,Latin
ile,ie,Interlingue,Constructed,Constructed,Latin
lfn,,Lingua Franca Nova,Constructed,Constructed,Latin
nov,,Novial,Constructed,Constructed,Latin
tzl,,Talossan,Constructed,Constructed,Latin
"""

#: Families in display order: largest and most studied first, constructed languages last.
FAMILY_ORDER = [
    "Indo-European", "Afro-Asiatic", "Uralic", "Turkic", "Mongolic", "Kartvelian", "Basque (isolate)",
    "Sino-Tibetan", "Japonic", "Koreanic", "Kra-Dai", "Austroasiatic", "Austronesian", "Dravidian",
    "Niger-Congo", "Creole", "Constructed",
]


def language_table() -> pd.DataFrame:
    """One row per evaluation language: code, iso, name, family, branch, script (a fresh copy)."""
    table = pd.read_csv(io.StringIO(_TABLE), dtype=str, keep_default_na=False)
    return table


def _lookup() -> dict[str, dict[str, str]]:
    table = language_table()
    found: dict[str, dict[str, str]] = {}
    for row in table.to_dict("records"):
        found[row["code"]] = row
        if row["iso"]:
            found.setdefault(row["iso"], row)
    return found


def language_info(codes: list[str]) -> pd.DataFrame:
    """Family/script rows for the given codes (LASER or ISO), in family/script order; unknown codes last."""
    lookup = _lookup()
    rows = []
    for code in dict.fromkeys(codes):
        info = lookup.get(code, {"name": code, "family": "Other", "branch": "", "script": "?"})
        rows.append({"language": code, "name": info["name"], "family": info["family"],
                     "branch": info["branch"], "script": info["script"]})
    frame = pd.DataFrame(rows, columns=["language", "name", "family", "branch", "script"])
    rank = {family: i for i, family in enumerate(FAMILY_ORDER)}
    frame["_rank"] = frame["family"].map(lambda f: rank.get(f, len(rank)))
    frame = frame.sort_values(["_rank", "branch", "script", "name"], kind="stable").drop(columns="_rank")
    return frame.reset_index(drop=True)


def language_order(codes: list[str]) -> list[str]:
    """The codes sorted by language family, then branch, then script (unknown codes last)."""
    return language_info(list(codes))["language"].tolist()


def language_label(code: str) -> str:
    """A readable axis label: 'deu · German (Germanic, Latin)'."""
    info = _lookup().get(code)
    if info is None:
        return code
    return f"{code} · {info['name']} ({info['branch']}, {info['script']})"
