//! Random sample data for templates, enough to stand in for Postman's `$random...` family.
//!
//! Small built-in word lists on purpose: responses need plausible values, not a locale database,
//! and a data crate would cost more build time than these few hundred bytes.

use time::{Duration, OffsetDateTime};

const FIRST_NAMES: &[&str] = &[
    "Ada", "Alan", "Amara", "Ana", "Ben", "Chen", "Chloe", "David", "Elena", "Emma", "Farah",
    "Grace", "Hugo", "Ines", "Ivan", "Jonas", "Kenji", "Lea", "Liam", "Maya", "Noah", "Olga",
    "Omar", "Priya", "Ravi", "Sara", "Tomas", "Yara", "Zoe",
];
const LAST_NAMES: &[&str] = &[
    "Abbott", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
    "Kowalski", "Lopez", "Martin", "Nguyen", "Okafor", "Patel", "Quinn", "Rossi", "Silva",
    "Tanaka", "Usman", "Varga", "Weber", "Young", "Zhang",
];
const WORDS: &[&str] = &[
    "alpha", "amber", "anchor", "bright", "cable", "canyon", "cedar", "delta", "ember", "falcon",
    "forest", "garden", "harbor", "island", "jasper", "kernel", "lantern", "meadow", "nectar",
    "orbit", "pepper", "quartz", "river", "signal", "timber", "umbra", "velvet", "willow",
    "yonder", "zephyr",
];
const COMPANY_SUFFIXES: &[&str] = &["Inc", "LLC", "Group", "Labs", "Systems", "and Sons"];
const CITIES: &[&str] = &[
    "Amsterdam",
    "Austin",
    "Berlin",
    "Bogota",
    "Cairo",
    "Dublin",
    "Helsinki",
    "Lagos",
    "Lima",
    "Lisbon",
    "Melbourne",
    "Montreal",
    "Mumbai",
    "Nairobi",
    "Osaka",
    "Oslo",
    "Seoul",
    "Toronto",
    "Valencia",
    "Zurich",
];
/// Country names with their ISO 3166 codes.
const COUNTRIES: &[(&str, &str)] = &[
    ("Argentina", "AR"),
    ("Australia", "AU"),
    ("Brazil", "BR"),
    ("Canada", "CA"),
    ("Egypt", "EG"),
    ("Finland", "FI"),
    ("France", "FR"),
    ("Germany", "DE"),
    ("India", "IN"),
    ("Ireland", "IE"),
    ("Japan", "JP"),
    ("Kenya", "KE"),
    ("Mexico", "MX"),
    ("Nigeria", "NG"),
    ("Norway", "NO"),
    ("Peru", "PE"),
    ("Portugal", "PT"),
    ("South Korea", "KR"),
    ("Spain", "ES"),
    ("Switzerland", "CH"),
];
const STREETS: &[&str] = &[
    "Main Street",
    "Oak Avenue",
    "Harbor Road",
    "Station Lane",
    "Mill Street",
    "Park Drive",
];
const COLORS: &[&str] = &[
    "red", "orange", "yellow", "green", "teal", "blue", "indigo", "violet", "black", "white",
    "gray", "maroon", "olive", "navy", "silver",
];
const JOB_TITLES: &[&str] = &[
    "Software Engineer",
    "Product Manager",
    "Data Analyst",
    "Designer",
    "Support Specialist",
    "Accountant",
    "Sales Director",
    "Research Scientist",
];
const CURRENCIES: &[&str] = &[
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "INR", "BRL",
];
const DOMAIN_SUFFIXES: &[&str] = &["com", "net", "org", "io", "dev", "info"];
const WEEKDAYS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
pub(crate) const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Longest word list or character string a template may ask for.
pub(crate) const MAX_COUNT: usize = 1000;

fn pick<T: Copy>(items: &[T]) -> T {
    items[rand::random_range(..items.len())]
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A version 4 UUID from the thread's generator (no system call per value, unlike `new_v4`).
pub(crate) fn uuid() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

pub(crate) fn first_name() -> String {
    pick(FIRST_NAMES).to_owned()
}

pub(crate) fn last_name() -> String {
    pick(LAST_NAMES).to_owned()
}

pub(crate) fn full_name() -> String {
    format!("{} {}", pick(FIRST_NAMES), pick(LAST_NAMES))
}

pub(crate) fn user_name() -> String {
    format!(
        "{}.{}{}",
        pick(FIRST_NAMES).to_lowercase(),
        pick(LAST_NAMES).to_lowercase(),
        rand::random_range(1..100)
    )
}

pub(crate) fn domain() -> String {
    format!("{}.{}", pick(WORDS), pick(DOMAIN_SUFFIXES))
}

pub(crate) fn email() -> String {
    format!("{}@{}", user_name(), domain())
}

pub(crate) fn url() -> String {
    format!("https://{}/{}", domain(), pick(WORDS))
}

pub(crate) fn word() -> String {
    pick(WORDS).to_owned()
}

pub(crate) fn words(count: usize) -> String {
    (0..count.min(MAX_COUNT))
        .map(|_| pick(WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn sentence() -> String {
    format!("{}.", capitalised(&words(rand::random_range(4..10))))
}

pub(crate) fn paragraph() -> String {
    (0..rand::random_range(3..6))
        .map(|_| sentence())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn slug() -> String {
    words(3).replace(' ', "-")
}

pub(crate) fn company() -> String {
    format!("{} {}", capitalised(pick(WORDS)), pick(COMPANY_SUFFIXES))
}

pub(crate) fn job_title() -> String {
    pick(JOB_TITLES).to_owned()
}

pub(crate) fn city() -> String {
    pick(CITIES).to_owned()
}

pub(crate) fn street_address() -> String {
    format!("{} {}", rand::random_range(1..2000), pick(STREETS))
}

pub(crate) fn country() -> String {
    pick(COUNTRIES).0.to_owned()
}

pub(crate) fn country_code() -> String {
    pick(COUNTRIES).1.to_owned()
}

pub(crate) fn latitude() -> f64 {
    (rand::random_range(-90.0..90.0f64) * 1e6).round() / 1e6
}

pub(crate) fn longitude() -> f64 {
    (rand::random_range(-180.0..180.0f64) * 1e6).round() / 1e6
}

pub(crate) fn phone() -> String {
    format!(
        "{:03}-{:03}-{:04}",
        rand::random_range(200..1000),
        rand::random_range(0..1000),
        rand::random_range(0..10_000)
    )
}

pub(crate) fn color() -> String {
    pick(COLORS).to_owned()
}

pub(crate) fn hex_color() -> String {
    format!("#{:06x}", rand::random_range(0..0x100_0000))
}

pub(crate) fn ip() -> String {
    let octets: [u8; 4] = rand::random();
    std::net::Ipv4Addr::from(octets).to_string()
}

pub(crate) fn ipv6() -> String {
    let segments: [u16; 8] = rand::random();
    std::net::Ipv6Addr::from(segments).to_string()
}

pub(crate) fn mac_address() -> String {
    let bytes: [u8; 6] = rand::random();
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub(crate) fn alphanumeric(count: usize) -> String {
    (0..count.min(MAX_COUNT))
        .map(|_| pick(ALPHANUMERIC) as char)
        .collect()
}

pub(crate) fn password() -> String {
    alphanumeric(15)
}

pub(crate) fn semver() -> String {
    format!(
        "{}.{}.{}",
        rand::random_range(0..10),
        rand::random_range(0..20),
        rand::random_range(0..50)
    )
}

pub(crate) fn currency_code() -> String {
    pick(CURRENCIES).to_owned()
}

pub(crate) fn price() -> String {
    format!("{:.2}", rand::random_range(1.0..1000.0f64))
}

pub(crate) fn weekday() -> String {
    pick(WEEKDAYS).to_owned()
}

pub(crate) fn month() -> String {
    pick(MONTHS).to_owned()
}

/// A moment up to `max_days` before (negative) or after (positive) `now`, to the second.
pub(crate) fn moment(now: OffsetDateTime, max_days: i64) -> OffsetDateTime {
    let seconds = rand::random_range(1..=max_days.abs() * 86_400);
    now + Duration::seconds(seconds * max_days.signum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_have_their_expected_shapes() {
        let id = uuid::Uuid::parse_str(&uuid()).unwrap();
        assert_eq!(id.get_version_num(), 4);
        assert!(email().contains('@'));
        assert!(url().starts_with("https://"));
        assert_eq!(words(4).split(' ').count(), 4);
        assert_eq!(words(1_000_000).split(' ').count(), MAX_COUNT);
        assert!(sentence().ends_with('.'));
        assert!(ip().parse::<std::net::Ipv4Addr>().is_ok());
        assert!(ipv6().parse::<std::net::Ipv6Addr>().is_ok());
        assert_eq!(hex_color().len(), 7);
        assert_eq!(mac_address().len(), 17);
        assert_eq!(alphanumeric(8).len(), 8);
        assert!((-90.0..=90.0).contains(&latitude()));
        let code = country_code();
        assert!(COUNTRIES.iter().any(|(_, c)| *c == code));
    }

    #[test]
    fn moments_fall_on_the_asked_side_of_now() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        assert!(moment(now, -365) < now);
        assert!(moment(now, 365) > now);
        assert!(moment(now, -1) >= now - Duration::days(1));
    }
}
