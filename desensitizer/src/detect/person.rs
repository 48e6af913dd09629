//! Person names, by heuristics (no NER model in the sidecar's latency budget): a name after
//! an honorific (`Dr. Ana Lima`) or an introduction (`my name is …`, `Dear …`), a listed
//! given name optionally followed by capitalized surnames (`Maria Gonzalez`), a speaker at
//! the start of a chat-log line (`Rhonda: …`), names coordinated with a name (`Chen and
//! Lopez`), and Chinese names (common surname + one or two characters) after `我叫`/`姓名`
//! or before a title (`先生`, `女士`). Given names come from the hand list in [`super::names`]
//! and the 1990 US Census lists in [`super::gazetteer`]; a name that is also an everyday
//! word, a day, a language or a place needs a listed surname after it.

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::gazetteer::{self, GivenName, Listed};
use super::names::{AMBIGUOUS_FIRST_NAMES, CN_SURNAMES, FIRST_NAMES, NOT_NAME_WORDS, NOT_SURNAMES, SURNAMES};
use super::{Detection, compile, priority};

/// One to three capitalized name words (`McKenzie`, `DeShawn` included), a middle initial
/// allowed. Words are separated by spaces or tabs only: a line break ends a name (`Name: Ann
/// Lee\nAddress: …`). A possessive `'s` is not part of the name (`Ann Lee's book`),
/// `O'Neil` and `Smith-Jones` are.
const NAME: &str = concat!(
    r"(?:[OD]')?\p{Lu}(?:\p{Ll}{1,2}\p{Lu})?\p{Ll}+(?:'\p{Lu}\p{Ll}+|'\p{Ll}{2,}|-\p{Lu}?\p{Ll}+)?(?:[ \t]+\p{Lu}\.)?",
    r"(?:[ \t]+(?:[OD]')?\p{Lu}(?:\p{Ll}{1,2}\p{Lu})?\p{Ll}+(?:'\p{Lu}\p{Ll}+|'\p{Ll}{2,}|-\p{Lu}?\p{Ll}+)?){0,2}"
);

/// A name after an honorific; a surname's lower-case particles belong to it (`Dr. van
/// Geenen`, `Mme de la Tour`).
static HONORIFIC: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        concat!(
            r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor|Sir|Dame|Madam|Mme|Mlle|Herr|Frau|Sr|Sra)\.?[ \t]+",
            r"((?:(?:van|von|de|der|den|da|di|du|del|della|dos|das|la|le|ten|ter|bin|al)[ \t]+){{0,2}}{NAME})"
        ),
        NAME = NAME
    ))
});

/// A user name after the word for an account (`admin r.delacroix`, `customer billy.k`,
/// `username j_smith`): one lower-case word joined by dots or underscores, which the name
/// rules (capitals) and the model (words) do not see as a person.
static USERNAME: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"\b(?i:admin|administrator|user|username|user name|login|customer|member|operator|moderator|handle|",
        r"employee|account)[ \t]*:?[ \t]+([a-z][a-z0-9]*(?:[._][a-z0-9]+)+)\b"
    ))
});

/// A family name naming an author's or artist's work (`the Adams novel`, `a Weber film`):
/// any listed surname, everyday words included (`the Brown novel`).
static AUTHOR_OF_WORK: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"\b(?i:the|a|an|that|this|his|her|their|my)[ \t]+(\p{Lu}\p{Ll}+)[ \t]+(?:novels?|books?|films?|movies?|",
        r"albums?|songs?|plays?|poems?|biography|memoir|trilogy|paintings?|symphony|opera|essays?|lectures?)\b"
    ))
});

/// What ends a file name or a host rather than a user name (`user config.yaml`, `login
/// portal.example.com`).
const NOT_USERNAME_ENDINGS: &[&str] = &[
    "cfg", "cn", "com", "conf", "csv", "de", "exe", "html", "ini", "io", "js", "json", "log", "md", "net", "org", "py",
    "rs", "sh", "toml", "txt", "uk", "xml", "yaml", "yml",
];

static INTRO: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"(?i:my name is|my name's|call me|name\s*:|full name\s*:|signed,?|regards,|sincerely,|yours truly,|best wishes,|dear|contact person\s*:?|ask for|patient\s*:|customer\s*:|attn\.?:?|from\s*:|to\s*:|cc\s*:|recipient\s*:|passenger\s*:|(?:account |card ?)?holder\s*:|employee\s*:|applicant\s*:|guest\s*:|consignee\s*:|shipper\s*:|sender\s*:|visitor\s*:|beneficiary\s*:|payee\s*:|owner\s*:|titulaire\s*:|empfänger\s*:|destinatario\s*:|contact\s*:|emergency contact\s*:|next of kin\s*:|reference\s*:|requester\s*:|reported by\s*:|assignee\s*:)\s*({NAME})"
    ))
});

/// A family name in capitals before a capitalized given name, the way East Asian names are
/// written on forms and passenger lists (`PARK Ji-hoon`, `LIU Yang`, `NGUYEN Van An`): the
/// capitals must be a listed surname.
static CAPS_SURNAME_FIRST: LazyLock<Regex> =
    LazyLock::new(|| compile(r"\b(\p{Lu}{2,})[ \t]+\p{Lu}\p{Ll}+(?:-\p{Ll}+)?(?:[ \t]+\p{Lu}\p{Ll}+(?:-\p{Ll}+)?)?\b"));

/// People do not always capitalize their own name in chat: `my name is john smith`.
static INTRO_LOWER: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i:my name is|my name's|call me)\s+(\p{Ll}[\p{Ll}'\-]+(?:[ \t]+\p{Ll}[\p{Ll}'\-]+)?)"));

/// A capitalized word before a listed family name (`Thiago Silva`).
static GIVEN_SURNAME: LazyLock<Regex> =
    LazyLock::new(|| compile(r"\p{Lu}\p{Ll}+(?:-\p{Lu}?\p{Ll}+)?[ \t]+((?:[OD]')?\p{Lu}\p{Ll}+(?:'\p{Lu}\p{Ll}+)?)"));

/// Two or three capitalized words that are all Hanyu Pinyin, the first or the last a common
/// Chinese family name (`Huang Jun`, `Wang Xiaoming`, `Xiaoming Wang`, `Li Na`): Chinese
/// names written in Latin letters, which the census name lists mostly lack. The words
/// must be whole syllable sequences (`Long Island`, `Fan Club` are not).
static PINYIN_NAME: LazyLock<Regex> =
    LazyLock::new(|| compile(r"\b\p{Lu}[a-z]{1,11}(?:[ \t]+\p{Lu}[a-z]{1,11}){1,2}\b"));

/// A Korean-style given name, hyphenated in lower case (`Hyun-woo`, `Ji-ho`), before or
/// after a family name: `Hyun-woo Lee`, `Choi Ji-ho`. The family name must be listed.
static HYPHENATED_GIVEN: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"\b(?:(\p{Lu}\p{Ll}+)-\p{Ll}+[ \t]+(\p{Lu}\p{Ll}+)|(\p{Lu}\p{Ll}+)[ \t]+\p{Lu}\p{Ll}+-\p{Ll}+)\b")
});

/// The hundred commonest Chinese family names in Pinyin.
const PINYIN_SURNAMES: &[&str] = &[
    "bai", "cai", "cao", "chang", "chen", "cheng", "cui", "dai", "deng", "ding", "dong", "du", "duan", "fan", "fang",
    "feng", "fu", "gao", "gong", "gu", "guo", "han", "hao", "he", "hou", "hu", "huang", "jia", "jiang", "jin", "kong",
    "lai", "lei", "li", "liang", "liao", "lin", "liu", "long", "lu", "luo", "lv", "ma", "mao", "meng", "mo", "pan",
    "peng", "qian", "qin", "qiu", "ren", "shao", "shen", "shi", "song", "su", "sun", "tan", "tang", "tao", "tian",
    "wan", "wang", "wei", "wen", "wu", "xia", "xiao", "xie", "xiong", "xu", "xue", "yan", "yang", "yao", "ye", "yin",
    "yu", "yuan", "zeng", "zhang", "zhao", "zheng", "zhong", "zhou", "zhu", "zou",
];

/// Syllables of Hanyu Pinyin (initial, then final), for [`pinyin_word`].
static PINYIN_SYLLABLES: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"^(?:(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?",
        r"(?:iang|iong|uang|ueng|ang|eng|ing|ong|uan|ian|iao|uai|ai|ei|ao|ou|an|en|in|un|ia|ie|iu|ua|uo|ui|ue|ve|er|a|o|e|i|u|v)){1,3}$"
    ))
});

/// A word that splits into Pinyin syllables (`xiaoming`, `jun`), not an English word that
/// happens to (`long`, `fan`, `he` are also surnames, so a name needs two such words).
fn pinyin_word(word: &str) -> bool {
    PINYIN_SYLLABLES.is_match(&word.to_lowercase())
}

/// A name after a generic name cue (`What's your last name? Cooper`, `was called Tony
/// Bryant`) or a role/relation word (`my kid Leah`, `Producer Steve Peterson`). Speech verbs
/// count only before a name's own verb (`Harris said`): after one, technical text has
/// capitalized messages (`the log says Permission Denied`).
static CUED: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        concat!(
            r"(?:(?i:(?:first |last |full |maiden |user)?name(?: is|'s|\?|:)|(?:called|named)(?:\s+(?:him|her|them|me|us))?|asked|thanked|producer|singer|director|manager|engineer|doctor|nurse|officer|",
            r"agent|colleague|assistant|founder|author|writer|actor|actress|coach|teacher|lawyer|attorney|friend|",
            r"neighbou?r|boss|wife|husband|son|daughter|kid|mother|father|brother|sister|uncle|aunt|cousin|",
            r"grandfather|grandmother|guardian|client|tenant|landlord|partner|fiancée?|girlfriend|boyfriend))",
            r"[ \t]+({NAME})"
        ),
        NAME = NAME
    ))
});

/// A name before a possessed relation/thing or a speech verb (`Joseph's address`,
/// `Harris said`).
static BEFORE_VERB: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        concat!(
            r"({NAME})(?:'s\s+(?:address|daughter|son|kids?|wife|husband|mother|father|friend|brother|sister|phone|",
            r"number|email|house|car|account|birthday|family|parents|children|killers)",
            r"|[ \t]+(?:says|said|asked|shouted|explained|replied|wrote|told|called|emailed|texted)\b)"
        ),
        NAME = NAME
    ))
});

/// Academic and professional suffixes belong to the name (`Wendy Walton MD`).
static SUFFIXED: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!(r"({NAME}[ \t]+(?:MD|PhD|DDS|DVM|Jr\.|Sr\.|Esq\.))")));

static WORD: LazyLock<Regex> =
    LazyLock::new(|| compile(r"\p{Lu}(?:\p{Ll}{1,2}\p{Lu})?\p{Ll}+(?:'\p{Lu}\p{Ll}+|'\p{Ll}{2,}|-\p{Lu}?\p{Ll}+)?"));

/// Surnames after a given name: a middle initial, then up to two capitalized words.
static TRAILING_SURNAMES: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"\A(?:[ \t]+\p{Lu}\.)?(?:[ \t]+(?:(?:van|von|de|da|del|di|le|la|bin|al)[ \t]+)?(?:[OD]')?\p{Lu}(?:\p{Ll}{1,2}\p{Lu})?\p{Ll}+(?:'\p{Lu}\p{Ll}+|'\p{Ll}{2,}|-\p{Lu}?\p{Ll}+)?){1,2}",
    )
});

static CN_INTRO: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"(?:我叫|我是|名叫|叫做|名字是|名字叫|姓名[:：]?|联系人[:：]?|收件人[:：]?|患者[:：]?|客户[:：]?|用户[:：]?|持卡人[:：]?|(?i:name|holder|recipient|contact|customer|patient)\s*[:：]?)\s*([{CN_SURNAMES}]\p{{Han}}{{1,2}})"
    ))
});

static CN_TITLE: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(r"([{CN_SURNAMES}]\p{{Han}}{{0,2}}?)(?:先生|女士|小姐|老师|经理|医生|教授|同学|律师|主任)"))
});

/// Characters that end a clause rather than a given name (`我叫李明的朋友`).
const CN_PARTICLES: &[char] =
    &['的', '了', '是', '在', '和', '与', '跟', '说', '来', '去', '吗', '呢', '吧', '今', '也'];

/// A speaker's name at the start of a chat-log line (`Maria: "Who are you?"`).
static SPEAKER: LazyLock<Regex> = LazyLock::new(|| compile(r"(?m)^[ \t>]*(\p{Lu}\p{Ll}+)[ \t]*:"));

/// Capitalized words in a list (`Chen and Lopez`, `Monique, Travis and Cassidy`).
static LIST: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"\p{Lu}(?:\p{Ll}{1,2}\p{Lu})?\p{Ll}+(?:(?:,[ \t]*|,?[ \t]+(?:and|or|&)[ \t]+)\p{Lu}(?:\p{Ll}{1,2}\p{Lu})?\p{Ll}+)+",
    )
});

static LIST_ITEM: LazyLock<Regex> = LazyLock::new(|| compile(r"\p{Lu}(?:\p{Ll}{1,2}\p{Lu})?\p{Ll}+"));

/// How far a given name counts on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    /// A name alone is a person (`Seth is very reliable`).
    Plain,
    /// Also a country, state or large city (`Georgia`, `France`): a person only before a
    /// listed surname, even one that is also a word (`Georgia Parry`).
    Place,
    /// Also an everyday word, day or language (`Will`, `Rose`, `April`): a person only
    /// before a surname that is not a word too (`Will Smith`, never `Rose Garden`).
    Word,
}

fn given_name(folded: &str) -> Option<Given> {
    if FIRST_NAMES.binary_search(&folded).is_ok() {
        return Some(Given::Plain);
    }
    if AMBIGUOUS_FIRST_NAMES.binary_search(&folded).is_ok() {
        return Some(Given::Word);
    }
    Some(match gazetteer::first_name(folded)? {
        GivenName::Plain => Given::Plain,
        GivenName::Place => Given::Place,
        GivenName::Word => Given::Word,
    })
}

/// Nouns that make a name part of an institution's or a street's (`Stanford University`,
/// `Grace Street`), sorted.
const INSTITUTIONS: &[&str] = &[
    "academy",
    "avenue",
    "bank",
    "boulevard",
    "bridge",
    "center",
    "centre",
    "church",
    "city",
    "college",
    "company",
    "corporation",
    "county",
    "foundation",
    "hall",
    "hospital",
    "institute",
    "lake",
    "lane",
    "library",
    "museum",
    "park",
    "river",
    "road",
    "school",
    "square",
    "station",
    "street",
    "university",
];

/// The word after `end` (one space away) is an institution noun.
fn names_an_institution(text: &str, end: usize) -> bool {
    let Some(rest) = text.get(end..).and_then(|r| r.strip_prefix(' ')) else {
        return false;
    };
    let next: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
    INSTITUTIONS.binary_search(&gazetteer::fold(&next).as_str()).is_ok()
}

fn is_surname(folded: &str) -> bool {
    SURNAMES.binary_search(&folded).is_ok() || gazetteer::surname(folded) == Some(Listed::Plain)
}

/// The first capitalized word of `words` (after a middle initial), or the first part of a
/// double-barrelled one (`Randall-Talbot`), is a listed surname; `word_surnames` also
/// accepts surnames that are everyday words (`Parry`, `Brown`).
fn starts_with_surname(words: &str, word_surnames: bool) -> bool {
    let Some(word) = words.split_whitespace().find(|w| !w.ends_with('.')) else {
        return false;
    };
    let folded = gazetteer::fold(word).replace('\'', "");
    let first_part = folded.split('-').next().unwrap_or("");
    [folded.as_str(), first_part]
        .iter()
        .any(|part| is_surname(part) || (word_surnames && gazetteer::surname(part) == Some(Listed::Ambiguous)))
}

/// `Rico` in `Puerto Rico`: the word before and this one name a listed place.
fn ends_a_place_name(text: &str, start: usize, word: &str) -> bool {
    let Some(before) = text.get(..start).and_then(|b| b.strip_suffix(' ')) else {
        return false;
    };
    let previous = before.rsplit(|c: char| !c.is_alphabetic()).next().unwrap_or("");
    previous.chars().next().is_some_and(char::is_uppercase)
        && gazetteer::place(&gazetteer::fold(&format!("{previous} {word}"))).is_some()
}

/// Names coordinated with a name are names too (`Chen and Lopez were engineers`): in a
/// list where one item is already a person, a plain given name or a listed surname that is
/// neither a word nor a place, and every item is a listed name, every listed given name or
/// surname (even one that is also a word: `Bradley and Ward`, `Moore and Adams`) is a
/// person. Places and word-names cannot start such a list (`Paris and London`, `Rose and
/// Brown` stay).
fn coordinated(text: &str, out: &mut Vec<Detection>) {
    // Person spans by start, with the furthest end reached so far: an item is inside some
    // person span when a span starting at or before it reaches its end. Keeps long lists
    // (`Maria, Maria, …`) linear-logarithmic.
    let mut spans: Vec<(usize, usize)> =
        out.iter().filter(|d| d.kind == EntityType::Person).map(|d| (d.start, d.end)).collect();
    spans.sort_unstable();
    let mut reach = 0;
    for span in &mut spans {
        reach = reach.max(span.1);
        span.1 = reach;
    }
    let inside_person = |start: usize, end: usize| {
        let before = spans.partition_point(|s| s.0 <= start);
        before > 0 && spans[before - 1].1 >= end
    };
    for list in LIST.find_iter(text) {
        let items: Vec<(usize, usize, String)> = LIST_ITEM
            .find_iter(list.as_str())
            .map(|w| (list.start() + w.start(), list.start() + w.end(), gazetteer::fold(w.as_str())))
            .collect();
        let listed_name =
            |folded: &str| given_name(folded).is_some() || gazetteer::surname(folded).is_some() || is_surname(folded);
        let anchored = items
            .iter()
            .any(|(start, end, folded)| given_name(folded) == Some(Given::Plain) || inside_person(*start, *end))
            || (items.iter().all(|(_, _, folded)| listed_name(folded))
                && items.iter().any(|(_, _, folded)| is_surname(folded) && gazetteer::place(folded).is_none()));
        if !anchored {
            continue;
        }
        for (start, end, folded) in items {
            if listed_name(&folded) && name_isolated(text, start, end) {
                out.push(Detection::new(start, end, EntityType::Person, priority::PERSON_LIST));
            }
        }
    }
}

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for regex in [&*HONORIFIC, &*INTRO, &*CUED, &*BEFORE_VERB, &*SUFFIXED] {
        for caps in regex.captures_iter(text) {
            // A cue is a whole word: `son` in `Alison Smith` is none. Checked here rather
            // than in the patterns, whose literal first words let the regex engine skip
            // ahead quickly.
            let glued = caps
                .get(0)
                .is_some_and(|whole| super::char_before(text, whole.start()).is_some_and(|c| c.is_ascii_alphabetic()));
            if glued {
                continue;
            }
            if let Some(m) = caps.get(1)
                && let Some((start, end)) = cut_at_non_surname(text, m.start(), m.end())
            {
                out.push(Detection::new(start, end, EntityType::Person, priority::PERSON_CONTEXT));
            }
        }
    }
    for caps in USERNAME.captures_iter(text) {
        let Some(m) = caps.get(1) else { continue };
        let ending = m.as_str().rsplit(['.', '_']).next().unwrap_or("");
        // An e-mail address's local part is the e-mail rule's.
        let mailbox = super::char_at(text, m.end()) == Some('@');
        if !NOT_USERNAME_ENDINGS.contains(&ending) && !mailbox && name_isolated(text, m.start(), m.end()) {
            out.push(Detection::new(m.start(), m.end(), EntityType::Person, priority::PERSON_CONTEXT));
        }
    }
    for caps in AUTHOR_OF_WORK.captures_iter(text) {
        let Some(m) = caps.get(1) else { continue };
        let folded = gazetteer::fold(m.as_str());
        if SURNAMES.binary_search(&folded.as_str()).is_ok() || gazetteer::surname(&folded).is_some() {
            out.push(Detection::new(m.start(), m.end(), EntityType::Person, priority::PERSON_CONTEXT));
        }
    }
    for caps in INTRO_LOWER.captures_iter(text) {
        let Some(m) = caps.get(1) else { continue };
        let mut end = m.start();
        for word in m.as_str().split_whitespace() {
            if NOT_NAME_WORDS.binary_search(&word).is_ok() || NOT_SURNAMES.binary_search(&word).is_ok() {
                break;
            }
            // `word` is a subslice of the match: its end is its offset plus its length.
            end = m.start() + (word.as_ptr() as usize - m.as_str().as_ptr() as usize) + word.len();
        }
        if end > m.start() && name_isolated(text, m.start(), end) {
            out.push(Detection::new(m.start(), end, EntityType::Person, priority::PERSON_CONTEXT));
        }
    }
    for m in PINYIN_NAME.find_iter(text) {
        let words: Vec<&str> = m.as_str().split_whitespace().collect();
        let surname = |w: &str| PINYIN_SURNAMES.binary_search(&w.to_lowercase().as_str()).is_ok();
        let (Some(first), Some(last)) = (words.first(), words.last()) else { continue };
        // Everyday English words that are Pinyin too (`He`, `Long`, `Fan`, `Men`) may not be
        // the whole given name.
        let given = if surname(first) { &words[1..] } else { &words[..words.len() - 1] };
        let english = given.iter().all(|w| NOT_NAME_WORDS.binary_search(&w.to_lowercase().as_str()).is_ok());
        if (surname(first) || surname(last)) && words.iter().all(|w| pinyin_word(w)) && !english {
            out.push(Detection::new(m.start(), m.end(), EntityType::Person, priority::PERSON_LIST));
        }
    }
    for caps in HYPHENATED_GIVEN.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        let family = caps.get(2).or_else(|| caps.get(3)).map_or("", |m| m.as_str());
        let folded = gazetteer::fold(family);
        if gazetteer::surname(&folded).is_some() || PINYIN_SURNAMES.binary_search(&folded.as_str()).is_ok() {
            out.push(Detection::new(whole.start(), whole.end(), EntityType::Person, priority::PERSON_LIST));
        }
    }
    for caps in CAPS_SURNAME_FIRST.captures_iter(text) {
        let (Some(whole), Some(family)) = (caps.get(0), caps.get(1)) else { continue };
        let folded = gazetteer::fold(family.as_str());
        let listed = gazetteer::surname(&folded).is_some() || SURNAMES.binary_search(&folded.as_str()).is_ok();
        // Everyday words that are also surnames (`PARK`) count here: a word in capitals
        // before a capitalized given name is a form's family name, not a heading.
        if listed {
            out.push(Detection::new(whole.start(), whole.end(), EntityType::Person, priority::PERSON_CONTEXT));
        }
    }
    // Overlapping pairs (`Ana Maria Silva`) are found because each start is tried.
    let mut at = 0;
    while let Some(caps) = text.get(at..).and_then(|rest| GIVEN_SURNAME.captures(rest)) {
        let (Some(whole), Some(surname)) = (caps.get(0), caps.get(1)) else {
            break;
        };
        let (start, end) = (at + whole.start(), at + whole.end());
        let given = whole.as_str().split_whitespace().next().unwrap_or("").to_lowercase();
        let family = surname.as_str().to_lowercase().replace('\'', "");
        if SURNAMES.binary_search(&family.as_str()).is_ok()
            && NOT_SURNAMES.binary_search(&given.as_str()).is_err()
            && name_isolated(text, start, end)
        {
            out.push(Detection::new(start, end, EntityType::Person, priority::PERSON_LIST));
        }
        // Continue from the second word, so it can start a pair of its own.
        at = at + whole.start() + whole.as_str().find(char::is_whitespace).unwrap_or(whole.len()).max(1);
    }
    for m in WORD.find_iter(text) {
        let folded = gazetteer::fold(m.as_str());
        let Some(given) = given_name(&folded) else { continue };
        if !name_isolated(text, m.start(), m.end()) {
            continue;
        }
        let mut end = m.end();
        if let Some(rest) = text.get(end..)
            && let Some(s) = TRAILING_SURNAMES.find(rest)
            && let Some((_, cut)) = cut_at_non_surname(text, end, end + s.end())
            && (given == Given::Plain || starts_with_surname(text.get(end..cut).unwrap_or(""), given == Given::Place))
        {
            end = cut;
        }
        if end == m.end() && (given != Given::Plain || ends_a_place_name(text, m.start(), m.as_str())) {
            continue;
        }
        if names_an_institution(text, end) {
            continue;
        }
        if name_isolated(text, m.start(), end) {
            out.push(Detection::new(m.start(), end, EntityType::Person, priority::PERSON_LIST));
        }
    }
    for caps in SPEAKER.captures_iter(text) {
        if let Some(m) = caps.get(1)
            && given_name(&gazetteer::fold(m.as_str())).is_some()
        {
            out.push(Detection::new(m.start(), m.end(), EntityType::Person, priority::PERSON_CONTEXT));
        }
    }
    coordinated(text, out);
    for regex in [&*CN_INTRO, &*CN_TITLE] {
        for caps in regex.captures_iter(text) {
            let Some(m) = caps.get(1) else { continue };
            let mut end = m.end();
            while let Some(c) = text.get(m.start()..end).and_then(|s| s.chars().next_back()) {
                if end - c.len_utf8() > m.start() && CN_PARTICLES.contains(&c) {
                    end -= c.len_utf8();
                } else {
                    break;
                }
            }
            out.push(Detection::new(m.start(), end, EntityType::Person, priority::PERSON_CONTEXT));
        }
    }
}

/// Not glued to other letters or digits. Han characters do not count: Chinese has no
/// spaces, and `我叫Maria` still names Maria.
fn name_isolated(text: &str, start: usize, end: usize) -> bool {
    let glued = |c: Option<char>| {
        c.is_some_and(|c| (c.is_alphanumeric() || c == '_') && !('\u{2e80}'..='\u{9fff}').contains(&c))
    };
    !glued(super::char_before(text, start)) && !glued(super::char_at(text, end))
}

/// Ends a name before the first word that cannot be part of one (`Smith Street`,
/// `John Thanks`); `None` when nothing of a name is left.
fn cut_at_non_surname(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let span = text.get(start..end)?;
    let mut last_end = None;
    let mut offset = 0;
    for word in span.split_inclusive(char::is_whitespace) {
        let trimmed = word.trim_end();
        let bare = trimmed.trim_end_matches('.').to_lowercase();
        if NOT_SURNAMES.binary_search(&bare.as_str()).is_ok() && bare.len() > 1 {
            break;
        }
        if !trimmed.is_empty() {
            last_end = Some(start + offset + trimmed.len());
        }
        offset += word.len();
    }
    last_end.map(|e| (start, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        detect(text, &mut out);
        let kept = super::super::resolve(out);
        kept.iter().map(|d| text[d.start..d.end].to_string()).collect()
    }

    #[test]
    fn lists_are_sorted_for_binary_search() {
        for list in
            [FIRST_NAMES, AMBIGUOUS_FIRST_NAMES, NOT_SURNAMES, SURNAMES, NOT_NAME_WORDS, INSTITUTIONS, PINYIN_SURNAMES]
        {
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted, list, "list must be sorted and unique");
        }
    }

    #[test]
    fn family_names_of_an_author() {
        assert_eq!(found("Unlike the Zuniga novel, it is short."), ["Zuniga"]);
        assert_eq!(found("I loved the Brown novel."), ["Brown"]);
        assert!(found("Read the Python book first.").is_empty());
        assert!(found("the Beatles album is great").is_empty());
    }

    #[test]
    fn user_names_after_an_account_word() {
        assert_eq!(found("audit: admin r.delacroix changed the role"), ["r.delacroix"]);
        assert_eq!(found("someone entered it under customer billy.k"), ["billy.k"]);
        assert_eq!(found("username: j_smith42 cannot log in"), ["j_smith42"]);
        assert!(found("the user config.yaml is missing").is_empty());
        assert!(found("login portal.example.com").is_empty());
        assert!(found("customer jane.doe@example.com wrote").is_empty());
        assert!(found("the admin panel is down").is_empty());
    }

    #[test]
    fn english_names() {
        assert_eq!(found("Please ask Dr. Okonkwo Adebayo."), ["Okonkwo Adebayo"]);
        assert_eq!(found("my name is Zelda Quist and"), ["Zelda Quist"]);
        assert_eq!(found("Yesterday Maria Gonzalez called"), ["Maria Gonzalez"]);
        assert_eq!(found("I met John F. Kennedy"), ["John F. Kennedy"]);
        assert_eq!(found("Regards, Priya"), ["Priya"]);
        assert_eq!(found("opened by Thiago Silva today"), ["Thiago Silva"]);
        assert_eq!(found("my name is Mateo Müller and"), ["Mateo Müller"]);
        assert_eq!(found("my name is peter müller, sorry"), ["peter müller"]);
        assert_eq!(found("我叫Maria，你好"), ["Maria"]);
        assert_eq!(found("What's your last name? Cooper"), ["Cooper"]);
        assert_eq!(found("I want to remove my kid Leah from the will"), ["Leah"]);
        assert_eq!(found("Rodriguez said it was fine."), ["Rodriguez"]);
        assert_eq!(found("Follow up with Wendy Walton MD soon"), ["Wendy Walton MD"]);
        assert_eq!(found("here's Joseph's address"), ["Joseph"]);
        assert_eq!(found("Make this polite: 'Dr. van Geenen, your rent is late.'"), ["van Geenen"]);
        assert_eq!(found("Mme de la Tour arrives"), ["de la Tour"]);
        assert!(found("we flew to New York City last year").is_empty());
        assert!(found("she studies at Stanford University now").is_empty());
        // Capitalized technical terms are not names.
        for text in [
            "Explain how Kubernetes Operators work and compare them with Helm Charts.",
            "How do I configure Nginx Ingress with Cert Manager?",
            "The error says Connection Refused when I call the API.",
            "Is Machine Learning different from Deep Learning?",
            "The Chief Executive approved the budget for Project Phoenix.",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
        assert_eq!(found("hi my name is john smith, sorry"), ["john smith"]);
        assert!(found("my name is not important").is_empty());
        assert!(found("See you in May.").is_empty());
        assert!(found("We will meet at Grace Street").is_empty());
    }

    #[test]
    fn census_names_lists_and_chat_logs() {
        assert_eq!(found("we need to add Kristin Hodges as guardian"), ["Kristin Hodges"]);
        assert_eq!(found("Seth is very reliable."), ["Seth"]);
        assert_eq!(found("Chad Miller called"), ["Chad Miller"]);
        assert_eq!(found("Chen and Lopez were precision engineers."), ["Chen", "Lopez"]);
        assert_eq!(found("Bradley and Ward were precision engineers."), ["Bradley", "Ward"]);
        assert_eq!(found("Moore and Adams were precision engineers."), ["Moore", "Adams"]);
        assert_eq!(found("Dodd and Brown were precision engineers."), ["Dodd", "Brown"]);
        // Surnames that are words, places or technical terms make no list of people.
        for text in ["Snow and Berry fell", "Houston and Dallas are big", "Docker and Kubernetes"] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
        assert_eq!(found("Please ask Ashley McKenzie"), ["Ashley McKenzie"]);
        assert_eq!(found("I spoke with Jessica O'Brien yesterday."), ["Jessica O'Brien"]);
        assert_eq!(found("Yesterday Dean O'Sullivan called"), ["Dean O'Sullivan"]);
        assert_eq!(found("add Alison Smith as guardian"), ["Alison Smith"], "son is no cue inside Alison");
        assert_eq!(found("Rhonda: \"Who are you?\""), ["Rhonda"]);
        assert_eq!(found("She named him Eduardo"), ["Eduardo"]);
        // A name ends at a line break and before a possessive.
        assert_eq!(found("Name:    Melissa Harris\nAddress: 1 Elm Road"), ["Melissa Harris"]);
        assert_eq!(found("the verses from Jennifer Kelly's Cautionary Tales"), ["Jennifer Kelly"]);
        // Census names that are also words, days, languages, places or institutions.
        for text in [
            "See you on Sunday in April.",
            "Translate it into Spanish, French and German.",
            "She studies at Stanford University now",
            "We walked through the Rose Garden",
            "What is the capital of France?",
            "Paris and London are both expensive.",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn names_on_forms_and_passenger_lists() {
        assert_eq!(found("Recipient: Ji-ho Choi\n152 Teheran-ro"), ["Ji-ho Choi"]);
        assert_eq!(found("Passenger list: PARK Ji-hoon, KIM Min-ji; from Incheon"), ["PARK Ji-hoon", "KIM Min-ji"]);
        assert_eq!(found("spoke to LIU Yang (procurement)"), ["LIU Yang"]);
        assert_eq!(found("Next of kin: Obiageli Nwankwo, sister"), ["Obiageli Nwankwo"]);
        for text in ["USA Today reported it", "the API Gateway failed", "NASA Ames"] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn chinese_names_in_pinyin() {
        assert_eq!(found("visiting Huang Jun on 18F"), ["Huang Jun"]);
        assert_eq!(found("help me reply to Wang Xiaoming today"), ["Wang Xiaoming"]);
        assert_eq!(found("requested by Hyun-woo Lee."), ["Hyun-woo Lee"]);
        assert_eq!(found("ask Choi Ji-ho about it"), ["Choi Ji-ho"]);
        assert!(found("a Self-service Portal").is_empty());
        assert!(!pinyin_word("ion") && !pinyin_word("island") && pinyin_word("xiaoming"));
        for text in ["Long Island traffic", "the Fan Club met"] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn chinese_names() {
        assert_eq!(found("你好，我叫王小明，住在上海"), ["王小明"]);
        assert_eq!(found("Name: 陈静 / Chen Jing"), ["陈静", "Chen Jing"]);
        assert_eq!(found("UnionPay card, holder 王芳, please verify"), ["王芳"]);
        assert_eq!(found("请联系张伟先生"), ["张伟"]);
        assert_eq!(found("我叫李明的朋友"), ["李明"]);
    }
}
