//! `tis-sync seed`: reproducible synthetic TCS data in the TIS shape (performance.md), replacing
//! what the `tcs` tables held, in one transaction.
//!
//! Rows are generated here and streamed to Postgres with binary COPY, one table at a time: memory
//! stays bounded by the copy buffer whatever the scale. Every "random" value of a row comes from a
//! generator keyed by (seed, table, row id), so the same `persons` and `seed` give the same rows,
//! and each table can be regenerated independently (curriculum memberships re-derive their
//! programme memberships instead of holding them). Dates are relative to the server's current
//! date, so a seeded database always has past, current and future placements and memberships.

use std::pin::Pin;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use serde_json::json;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

use shared::error::{Error, Result};

/// Persons at TIS scale (performance.md); every other table scales from it.
pub const TIS_PERSONS: i64 = 300_000;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SeedReport {
    pub persons: i64,
    pub seed: i64,
    pub tables: Vec<(String, i64)>,
}

const LOCAL_OFFICES: [&str; 13] = [
    "Health Education England East Midlands",
    "Health Education England Kent, Surrey and Sussex",
    "Health Education England North East",
    "Health Education England West Midlands",
    "Health Education England South West",
    "Health Education England North West",
    "Health Education England Yorkshire and the Humber",
    "Health Education England East of England",
    "Health Education England Thames Valley",
    "Health Education England Wessex",
    "London LETBs",
    "Health Education England Mersey",
    "Health Education England Severn",
];
const SURNAMES: [&str; 20] = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Khan", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
];
const FORENAMES: [&str; 20] = [
    "Amelia", "Oliver", "Isla", "George", "Ava", "Harry", "Mia", "Noah", "Priya", "Mohammed", "Sophie", "Jack",
    "Grace", "Leo", "Chloe", "Arthur", "Zara", "Oscar", "Ruby", "Ethan",
];
const SPECIALTIES: i64 = 60;
const CURRICULA: i64 = 300;
const SITES: i64 = 500;
const GRADES: i64 = 12;

/// The row counts of each table for a number of persons: at 300,000 persons, the TIS shape of
/// performance.md (420,000 programme memberships, 70,000 posts among 400 trusts, 2.01 million
/// placements, 40,000 ESR applicant records).
#[derive(Debug, Clone, Copy)]
struct Shape {
    persons: i64,
    programmes: i64,
    programme_memberships: i64,
    posts: i64,
    trusts: i64,
    placements: i64,
    esr_records: i64,
}

impl Shape {
    fn for_persons(persons: i64) -> Shape {
        Shape {
            persons,
            programmes: (persons / 100).max(20),
            programme_memberships: persons * 14 / 10,
            posts: (persons * 7 / 30).max(10),
            trusts: (persons / 750).max(20),
            placements: persons * 67 / 10,
            esr_records: persons * 2 / 15,
        }
    }
}

/// A row's stream of pseudo-random draws: splitmix64 seeded by (seed, table, row id). Rows draw
/// every value unconditionally and in a fixed order, so a change to one column's rule never
/// shifts another's.
struct Draws(u64);

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Draws {
    fn new(seed: i64, table: u64, id: i64) -> Draws {
        Draws(mix(mix(seed as u64 ^ table.wrapping_mul(GOLDEN_GAMMA)) ^ id as u64))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        mix(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// 1..=n, for picking an id.
    fn id(&mut self, n: i64) -> i64 {
        1 + self.below(n as u64) as i64
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    fn days(&mut self, n: u64) -> TimeDelta {
        TimeDelta::days(self.below(n) as i64)
    }
}

/// Table keys of `Draws`, one per generated table.
mod table {
    pub const PERSON: u64 = 1;
    pub const PROGRAMME: u64 = 2;
    pub const PROGRAMME_MEMBERSHIP: u64 = 3;
    pub const POST: u64 = 4;
    pub const PLACEMENT: u64 = 5;
    pub const ESR_RECORD: u64 = 6;
    pub const POST_FUNDING: u64 = 7;
    pub const POST_DETAIL: u64 = 8;
}

pub async fn seed(client: &mut Client, persons: i64, seed: i64) -> Result<SeedReport> {
    seed_reporting(client, persons, seed, &mut |_, _| {}).await
}

/// `seed`, telling `loaded` each table and its rows as soon as it is loaded.
pub async fn seed_reporting(
    client: &mut Client,
    persons: i64,
    seed: i64,
    loaded: &mut dyn FnMut(&str, i64),
) -> Result<SeedReport> {
    if persons < 1 {
        return Err(Error::InvalidInput(format!("--persons must be at least 1, got {persons}")));
    }
    let shape = Shape::for_persons(persons);
    let tx = client.transaction().await.map_err(|e| Error::database("seeding", e))?;
    // The derived tables go too: they describe the old data.
    tx.batch_execute(
        "TRUNCATE tcs.person, tcs.contact_details, tcs.gmc_details, tcs.gdc_details, tcs.programme,
                  tcs.programme_membership, tcs.curriculum_membership, tcs.post, tcs.placement,
                  tcs.specialty, tcs.placement_specialty, tcs.person_owner, tcs.person_trust,
                  tcs.post_trust, tcs.post_funding, tcs.post_grade, tcs.post_specialty, tcs.post_site,
                  tcs.programme_post, esr.generated_app_record, esr.notification_record, esr.export_file",
    )
    .await
    .map_err(|e| Error::database("clearing the tables before seeding", e))?;
    let today: NaiveDate = tx
        .query_one("SELECT current_date", &[])
        .await
        .map_err(|e| Error::database("reading the server's date", e))?
        .get(0);
    let deaneries: Vec<String> = tx
        .query("SELECT code FROM esr.deanery ORDER BY dispatch_order", &[])
        .await
        .map_err(|e| Error::database("reading the ESR deaneries", e))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if deaneries.is_empty() {
        return Err(Error::InvalidInput("esr.deanery is empty: run `tis-sync migrate` first".into()));
    }

    // In load order: each COPY runs after the last has finished, on the one transaction.
    let mut tables: Vec<(String, i64)> = Vec::new();
    let mut done = |table: &str, rows: i64| {
        loaded(table, rows);
        tables.push((table.to_string(), rows));
    };
    done("tcs.person", copy_persons(&tx, shape, seed).await?);
    done("tcs.contact_details", copy_contact_details(&tx, shape, seed).await?);
    done("tcs.gmc_details", copy_gmc_details(&tx, shape, seed).await?);
    done("tcs.gdc_details", copy_gdc_details(&tx, shape, seed).await?);
    done("tcs.specialty", copy_specialties(&tx).await?);
    done("tcs.programme", copy_programmes(&tx, shape, seed).await?);
    done("tcs.programme_membership", copy_programme_memberships(&tx, shape, seed, today).await?);
    done("tcs.curriculum_membership", copy_curriculum_memberships(&tx, shape, seed).await?);
    done("tcs.post", copy_posts(&tx, shape, seed).await?);
    done("tcs.post_funding", copy_post_fundings(&tx, shape, seed, today).await?);
    done("tcs.post_grade", copy_post_details(&tx, shape, seed, PostDetail::Grade).await?);
    done("tcs.post_specialty", copy_post_details(&tx, shape, seed, PostDetail::Specialty).await?);
    done("tcs.post_site", copy_post_details(&tx, shape, seed, PostDetail::Site).await?);
    done("tcs.programme_post", copy_post_details(&tx, shape, seed, PostDetail::Programme).await?);
    done("tcs.placement", copy_placements(&tx, shape, seed, today).await?);
    done("tcs.placement_specialty", copy_placement_specialties(&tx, shape, seed).await?);
    done("esr.generated_app_record", copy_esr_records(&tx, shape, seed, today, &deaneries).await?);
    // Fresh statistics, as a loaded production database has: the jobs' plans depend on them.
    let loaded: Vec<&str> = tables.iter().map(|(table, _)| table.as_str()).collect();
    tx.batch_execute(&format!("ANALYZE {}", loaded.join(", ")))
        .await
        .map_err(|e| Error::database("analysing the seeded tables", e))?;
    tx.commit().await.map_err(|e| Error::database("committing the seed", e))?;
    Ok(SeedReport { persons, seed, tables })
}

/// One binary COPY into `target` ("schema.table (columns)"), row by row.
struct Copy {
    target: &'static str,
    writer: Pin<Box<BinaryCopyInWriter>>,
}

impl Copy {
    async fn start(tx: &Transaction<'_>, target: &'static str, types: &[Type]) -> Result<Copy> {
        let sink = tx
            .copy_in(&format!("COPY {target} FROM STDIN BINARY"))
            .await
            .map_err(|e| Error::database(format!("starting COPY {target}"), e))?;
        Ok(Copy { target, writer: Box::pin(BinaryCopyInWriter::new(sink, types)) })
    }

    async fn row(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<()> {
        let target = self.target;
        self.writer.as_mut().write(values).await.map_err(|e| Error::database(format!("COPY {target}"), e))
    }

    async fn finish(mut self) -> Result<i64> {
        let target = self.target;
        let rows = self.writer.as_mut().finish().await.map_err(|e| Error::database(format!("COPY {target}"), e))?;
        Ok(rows as i64)
    }
}

async fn copy_persons(tx: &Transaction<'_>, shape: Shape, seed: i64) -> Result<i64> {
    use Type as T;
    let mut copy = Copy::start(
        tx,
        "tcs.person (id, intrepid_id, role, status, public_health_number, added_date, amended_date)",
        &[T::INT8, T::TEXT, T::TEXT, T::TEXT, T::TEXT, T::TIMESTAMPTZ, T::TIMESTAMPTZ],
    )
    .await?;
    let added_from: DateTime<Utc> = "2015-01-01T00:00:00Z".parse().expect("a valid timestamp");
    let amended_from: DateTime<Utc> = "2023-01-01T00:00:00Z".parse().expect("a valid timestamp");
    for id in 1..=shape.persons {
        let person = Person::draw(seed, id);
        let role = if person.placeholder { "DR in Training,Placeholder" } else { "DR in Training" };
        let status = if person.inactive { "INACTIVE" } else { "CURRENT" };
        let public_health_number = person.public_health_number.then(|| format!("PH{id}"));
        let added = added_from + person.added_after;
        let amended = amended_from + person.amended_after;
        copy.row(&[&id, &format!("INT{id}"), &role, &status, &public_health_number, &added, &amended]).await?;
    }
    copy.finish().await
}

/// How many of persons `1..=persons` the seed gives contact details: the persons TCS's person
/// query selects, so the person index's documents.
pub fn persons_with_contact_details(persons: i64, seed: i64) -> u64 {
    (1..=persons).filter(|&id| Person::draw(seed, id).contact_details).count() as u64
}

/// Everything drawn for one person, across the tables that hang off it.
struct Person {
    placeholder: bool,
    inactive: bool,
    public_health_number: bool,
    added_after: TimeDelta,
    amended_after: TimeDelta,
    /// ~98% have contact details, some without forenames.
    contact_details: bool,
    surname: &'static str,
    forenames: Option<&'static str>,
    /// ~80% have a GMC number, ~3% a GDC number.
    gmc: bool,
    gdc: bool,
}

impl Person {
    fn draw(seed: i64, id: i64) -> Person {
        let mut d = Draws::new(seed, table::PERSON, id);
        let placeholder = d.one_in(20);
        let inactive = d.one_in(20);
        let public_health_number = d.one_in(10);
        let added_after = d.days(3000);
        let amended_after = d.days(600);
        let contact_details = !d.one_in(50);
        let surname = SURNAMES[d.below(20) as usize];
        let no_forenames = d.one_in(50);
        let forename = FORENAMES[d.below(20) as usize];
        let gmc = !d.one_in(5);
        let gdc = d.one_in(33);
        Person {
            placeholder,
            inactive,
            public_health_number,
            added_after,
            amended_after,
            contact_details,
            surname,
            forenames: (!no_forenames).then_some(forename),
            gmc,
            gdc,
        }
    }
}

async fn copy_contact_details(tx: &Transaction<'_>, shape: Shape, seed: i64) -> Result<i64> {
    let mut copy =
        Copy::start(tx, "tcs.contact_details (id, surname, forenames)", &[Type::INT8, Type::TEXT, Type::TEXT]).await?;
    for id in 1..=shape.persons {
        let person = Person::draw(seed, id);
        if person.contact_details {
            // The suffix keeps surnames varied enough for name searches to be selective.
            let surname = format!("{}-{}", person.surname, id % 997);
            copy.row(&[&id, &surname, &person.forenames]).await?;
        }
    }
    copy.finish().await
}

async fn copy_gmc_details(tx: &Transaction<'_>, shape: Shape, seed: i64) -> Result<i64> {
    let mut copy = Copy::start(tx, "tcs.gmc_details (id, gmc_number)", &[Type::INT8, Type::TEXT]).await?;
    for id in (1..=shape.persons).filter(|&id| Person::draw(seed, id).gmc) {
        copy.row(&[&id, &(1_000_000 + id).to_string()]).await?;
    }
    copy.finish().await
}

async fn copy_gdc_details(tx: &Transaction<'_>, shape: Shape, seed: i64) -> Result<i64> {
    let mut copy = Copy::start(tx, "tcs.gdc_details (id, gdc_number)", &[Type::INT8, Type::TEXT]).await?;
    for id in (1..=shape.persons).filter(|&id| Person::draw(seed, id).gdc) {
        copy.row(&[&id, &format!("GDC{id}")]).await?;
    }
    copy.finish().await
}

async fn copy_specialties(tx: &Transaction<'_>) -> Result<i64> {
    let mut copy =
        Copy::start(tx, "tcs.specialty (id, name, specialty_code)", &[Type::INT8, Type::TEXT, Type::TEXT]).await?;
    for id in 1..=SPECIALTIES {
        copy.row(&[&id, &format!("Specialty {id}"), &format!("SP{id:03}")]).await?;
    }
    copy.finish().await
}

/// Programme owners among the 13 local offices, ~1% without one; every tenth inactive.
async fn copy_programmes(tx: &Transaction<'_>, shape: Shape, seed: i64) -> Result<i64> {
    use Type as T;
    let mut copy = Copy::start(
        tx,
        "tcs.programme (id, owner, programme_name, programme_number, status)",
        &[T::INT8, T::TEXT, T::TEXT, T::TEXT, T::TEXT],
    )
    .await?;
    for id in 1..=shape.programmes {
        let mut d = Draws::new(seed, table::PROGRAMME, id);
        let no_owner = d.one_in(100);
        let office = LOCAL_OFFICES[d.below(13) as usize];
        let owner = (!no_owner).then_some(office);
        let status = if id % 10 == 0 { "INACTIVE" } else { "CURRENT" };
        copy.row(&[&id, &owner, &format!("Programme {id}"), &format!("PRG{id}"), &status]).await?;
    }
    copy.finish().await
}

/// A programme membership (~1.4 per person), dates spread around today, a few NULL.
struct ProgrammeMembership {
    uuid: Uuid,
    person_id: i64,
    programme_id: i64,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    lat: bool,
    /// ~1 in 7 has a second curriculum.
    curricula: u64,
    curriculum_ids: [i64; 2],
}

impl ProgrammeMembership {
    fn draw(shape: Shape, seed: i64, today: NaiveDate, n: i64) -> ProgrammeMembership {
        let mut d = Draws::new(seed, table::PROGRAMME_MEMBERSHIP, n);
        let uuid = Uuid::from_u64_pair(d.next(), d.next());
        let person_id = d.id(shape.persons);
        let programme_id = d.id(shape.programmes);
        let start = today - TimeDelta::days(2500) + d.days(3300);
        let no_start = d.one_in(200);
        let no_end = d.one_in(200);
        let end = start + TimeDelta::days(365) + d.days(1500);
        let curricula = if d.one_in(7) { 2 } else { 1 };
        let curriculum_ids = [d.id(CURRICULA), d.id(CURRICULA)];
        ProgrammeMembership {
            uuid,
            person_id,
            programme_id,
            start: (!no_start).then_some(start),
            end: (!no_end).then_some(end),
            lat: n % 7 == 0,
            curricula,
            curriculum_ids,
        }
    }
}

async fn copy_programme_memberships(tx: &Transaction<'_>, shape: Shape, seed: i64, today: NaiveDate) -> Result<i64> {
    use Type as T;
    let mut copy = Copy::start(
        tx,
        "tcs.programme_membership (uuid, person_id, programme_id, programme_start_date, programme_end_date, programme_membership_type)",
        &[T::UUID, T::INT8, T::INT8, T::DATE, T::DATE, T::TEXT],
    )
    .await?;
    for n in 1..=shape.programme_memberships {
        let pm = ProgrammeMembership::draw(shape, seed, today, n);
        let kind = if pm.lat { "LAT" } else { "SUBSTANTIVE" };
        copy.row(&[&pm.uuid, &pm.person_id, &pm.programme_id, &pm.start, &pm.end, &kind]).await?;
    }
    copy.finish().await
}

async fn copy_curriculum_memberships(tx: &Transaction<'_>, shape: Shape, seed: i64) -> Result<i64> {
    use Type as T;
    let mut copy = Copy::start(
        tx,
        "tcs.curriculum_membership (id, programme_membership_uuid, curriculum_id)",
        &[T::INT8, T::UUID, T::INT8],
    )
    .await?;
    // The dates do not matter here; any day re-derives the same uuids and curricula.
    let any_day = NaiveDate::default();
    let mut id: i64 = 0;
    for n in 1..=shape.programme_memberships {
        let pm = ProgrammeMembership::draw(shape, seed, any_day, n);
        for curriculum_id in &pm.curriculum_ids[..pm.curricula as usize] {
            id += 1;
            copy.row(&[&id, &pm.uuid, curriculum_id]).await?;
        }
    }
    copy.finish().await
}

/// Posts: employing and training bodies among the trusts, ~5% NULL each, ~60% the same trust.
async fn copy_posts(tx: &Transaction<'_>, shape: Shape, seed: i64) -> Result<i64> {
    use Type as T;
    let mut copy = Copy::start(
        tx,
        "tcs.post (id, employing_body_id, training_body_id, owner, national_post_number, status, funding_status, intrepid_id)",
        &[T::INT8, T::INT8, T::INT8, T::TEXT, T::TEXT, T::TEXT, T::TEXT, T::TEXT],
    )
    .await?;
    for id in 1..=shape.posts {
        let mut d = Draws::new(seed, table::POST, id);
        let employing = d.id(shape.trusts);
        let no_employing = d.one_in(20);
        let no_training = d.one_in(20);
        let same_trust = d.below(10) < 6;
        let other_trust = d.id(shape.trusts);
        let owner = LOCAL_OFFICES[d.below(13) as usize];
        let employing_body_id = (!no_employing).then_some(employing);
        let training_body_id = (!no_training).then_some(if same_trust { employing } else { other_trust });
        let status = if id % 25 == 0 { "INACTIVE" } else { "CURRENT" };
        // Posts made in TIS itself have no Intrepid id: every third one here.
        let intrepid_id = (id % 3 != 0).then(|| format!("{}", 100_000 + id));
        let npn = national_post_number(id);
        copy.row(&[&id, &employing_body_id, &training_body_id, &owner, &npn, &status, &"FUNDED", &intrepid_id]).await?;
    }
    copy.finish().await
}

/// Post fundings: one to three per post. About a quarter of the posts have every funding ended
/// (their funding status should become INACTIVE); the rest have one open funding (no end date,
/// or one in the future) besides any ended ones.
async fn copy_post_fundings(tx: &Transaction<'_>, shape: Shape, seed: i64, today: NaiveDate) -> Result<i64> {
    use Type as T;
    let mut copy = Copy::start(
        tx,
        "tcs.post_funding (id, post_id, start_date, end_date, funding_type)",
        &[T::INT8, T::INT8, T::DATE, T::DATE, T::TEXT],
    )
    .await?;
    const TYPES: [&str; 4] = ["TARIFF", "TRUST_FUNDED", "ACADEMIC", "OTHER"];
    for post_id in 1..=shape.posts {
        let mut d = Draws::new(seed, table::POST_FUNDING, post_id);
        let fundings = 1 + d.below(3) as i64;
        let all_ended = d.below(4) == 0;
        for k in 0..fundings {
            let start = today - TimeDelta::days(2400) - d.days(2000);
            let end = if all_ended || k > 0 {
                Some(today - TimeDelta::days(1) - d.days(2000))
            } else if d.one_in(2) {
                None
            } else {
                Some(today + TimeDelta::days(1) + d.days(700))
            };
            let funding_type = TYPES[d.below(4) as usize];
            copy.row(&[&(post_id * 4 + k), &post_id, &start, &end, &funding_type]).await?;
        }
    }
    copy.finish().await
}

/// The tables that qualify a post, each row `(id, post id, other id, type)` but programme_post's,
/// which has no type.
#[derive(Clone, Copy)]
enum PostDetail {
    Grade,
    Specialty,
    Site,
    Programme,
}

/// A post's grades, specialties, sites and programmes, drawn from one stream per post (the same
/// draws whichever table is being written): about 2% of posts lack an APPROVED grade, a PRIMARY
/// specialty or a PRIMARY site; some have an OTHER one too; one or two programmes each.
async fn copy_post_details(tx: &Transaction<'_>, shape: Shape, seed: i64, detail: PostDetail) -> Result<i64> {
    use Type as T;
    let (target, typed, main_type, other_type) = match detail {
        PostDetail::Grade => ("tcs.post_grade (id, post_id, grade_id, post_grade_type)", true, "APPROVED", "OTHER"),
        PostDetail::Specialty => {
            ("tcs.post_specialty (id, post_id, specialty_id, post_specialty_type)", true, "PRIMARY", "OTHER")
        }
        PostDetail::Site => ("tcs.post_site (id, post_id, site_id, post_site_type)", true, "PRIMARY", "OTHER"),
        PostDetail::Programme => ("tcs.programme_post (id, post_id, programme_id)", false, "", ""),
    };
    let types: &[Type] = if typed { &[T::INT8, T::INT8, T::INT8, T::TEXT] } else { &[T::INT8, T::INT8, T::INT8] };
    let mut copy = Copy::start(tx, target, types).await?;
    for post_id in 1..=shape.posts {
        let mut d = Draws::new(seed, table::POST_DETAIL, post_id);
        let (grade, other_grade, no_grade, has_other_grade) = (d.id(GRADES), d.id(GRADES), d.one_in(50), d.one_in(10));
        let (specialty, other_specialty, no_specialty, has_other_specialty) =
            (d.id(SPECIALTIES), d.id(SPECIALTIES), d.one_in(50), d.one_in(3));
        let (site, other_site, no_site, has_other_site) = (d.id(SITES), d.id(SITES), d.one_in(50), d.one_in(5));
        let programmes = [d.id(shape.programmes), d.id(shape.programmes)];
        let two_programmes = d.one_in(4);
        let (main, other, missing, has_other) = match detail {
            PostDetail::Grade => (grade, other_grade, no_grade, has_other_grade),
            PostDetail::Specialty => (specialty, other_specialty, no_specialty, has_other_specialty),
            PostDetail::Site => (site, other_site, no_site, has_other_site),
            PostDetail::Programme => {
                (programmes[0], programmes[1], false, two_programmes && programmes[0] != programmes[1])
            }
        };
        let rows = [(!missing).then_some((main, main_type)), has_other.then_some((other, other_type))];
        for (k, (other_id, kind)) in rows.into_iter().enumerate().filter_map(|(k, row)| Some((k as i64, row?))) {
            let id = post_id * 2 + k;
            if typed {
                copy.row(&[&id, &post_id, &other_id, &kind]).await?;
            } else {
                copy.row(&[&id, &post_id, &other_id]).await?;
            }
        }
    }
    copy.finish().await
}

fn national_post_number(post_id: i64) -> String {
    format!("NPN/{post_id}")
}

/// Placements (~6.7 per person): ~8% current, ~7% future, the rest past back to ~2010, a few
/// NULL dates, ~3% DRAFT, every ninth parental leave.
async fn copy_placements(tx: &Transaction<'_>, shape: Shape, seed: i64, today: NaiveDate) -> Result<i64> {
    use Type as T;
    let mut copy = Copy::start(
        tx,
        "tcs.placement (id, trainee_id, post_id, date_from, date_to, grade_id, grade_abbreviation, site_id, site_code, placement_type, status, lifecycle_state)",
        &[T::INT8, T::INT8, T::INT8, T::DATE, T::DATE, T::INT8, T::TEXT, T::INT8, T::TEXT, T::TEXT, T::TEXT, T::TEXT],
    )
    .await?;
    for id in 1..=shape.placements {
        let mut d = Draws::new(seed, table::PLACEMENT, id);
        let trainee_id = d.id(shape.persons);
        let post_id = d.id(shape.posts);
        let kind = d.below(100);
        let length = TimeDelta::days(90) + d.days(300);
        let grade = d.id(GRADES);
        let site = d.id(SITES);
        let offset = d.below(5000) as i64;
        let no_from = d.one_in(300);
        let no_to = d.one_in(300);
        let draft = d.below(100) < 3;
        let (from, status) = match kind {
            0..8 => (today - TimeDelta::days(offset % length.num_days()), "CURRENT"),
            8..15 => (today + TimeDelta::days(1 + offset % 1500), "FUTURE"),
            _ => (today - length - TimeDelta::days(1 + offset), "PAST"),
        };
        let date_from = (!no_from).then_some(from);
        let date_to = (!no_to).then_some(from + length);
        let placement_type = if id % 9 == 0 { "Parental Leave" } else { "In Post" };
        let lifecycle_state = if draft { "DRAFT" } else { "APPROVED" };
        copy.row(&[
            &id,
            &trainee_id,
            &post_id,
            &date_from,
            &date_to,
            &grade,
            &format!("G{grade}"),
            &site,
            &format!("S{site}"),
            &placement_type,
            &status,
            &lifecycle_state,
        ])
        .await?;
    }
    copy.finish().await
}

/// One PRIMARY specialty per placement, ~20% also an OTHER one.
async fn copy_placement_specialties(tx: &Transaction<'_>, shape: Shape, seed: i64) -> Result<i64> {
    let mut copy = Copy::start(
        tx,
        "tcs.placement_specialty (placement_id, specialty_id, placement_specialty_type)",
        &[Type::INT8, Type::INT8, Type::TEXT],
    )
    .await?;
    for placement_id in 1..=shape.placements {
        // Its own stream (the placement's id, negated), so placements' draws stay as they are.
        let mut d = Draws::new(seed, table::PLACEMENT, -placement_id);
        let primary = d.id(SPECIALTIES);
        copy.row(&[&placement_id, &primary, &"PRIMARY"]).await?;
        let other = d.id(SPECIALTIES);
        if d.one_in(5) {
            copy.row(&[&placement_id, &other, &"OTHER"]).await?;
        }
    }
    copy.finish().await
}

/// ESR applicant records waiting to be exported (40,000 at TIS scale), over the deaneries and
/// the next 20 weeks, on the seeded posts.
async fn copy_esr_records(
    tx: &Transaction<'_>,
    shape: Shape,
    seed: i64,
    today: NaiveDate,
    deaneries: &[String],
) -> Result<i64> {
    use Type as T;
    let mut copy = Copy::start(
        tx,
        "esr.generated_app_record (id, placement_id, deanery, position_id, position_number, start_date, applicant)",
        &[T::INT8, T::INT8, T::TEXT, T::INT8, T::TEXT, T::DATE, T::JSONB],
    )
    .await?;
    for id in 1..=shape.esr_records {
        let mut d = Draws::new(seed, table::ESR_RECORD, id);
        let placement_id = d.id(shape.placements);
        let deanery = &deaneries[d.below(deaneries.len() as u64) as usize];
        let post_id = d.id(shape.posts);
        let start_date = today + TimeDelta::days(2) + d.days(140);
        let position_number = national_post_number(post_id);
        let applicant = json!({
            "lastName": format!("Applicant{id}"),
            "firstName": "Seeded",
            "gmcNumber": format!("{:07}", 2_000_000 + id),
            "positionId": post_id,
            "positionNumber": position_number,
        });
        copy.row(&[&id, &placement_id, deanery, &post_id, &position_number, &start_date, &applicant]).await?;
    }
    copy.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tis_scale_has_the_shape_of_performance_md() {
        let shape = Shape::for_persons(TIS_PERSONS);
        assert_eq!(shape.programme_memberships, 420_000);
        assert_eq!(shape.programmes, 3_000);
        assert_eq!(shape.posts, 70_000);
        assert_eq!(shape.trusts, 400);
        assert_eq!(shape.placements, 2_010_000);
        assert_eq!(shape.esr_records, 40_000);
    }

    #[test]
    fn draws_are_reproducible_and_depend_on_seed_table_and_row() {
        let draw = |seed, table, id| {
            let mut d = Draws::new(seed, table, id);
            (0..4).map(|_| d.below(1_000_000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(5, table::PERSON, 7), draw(5, table::PERSON, 7));
        assert_ne!(draw(5, table::PERSON, 7), draw(6, table::PERSON, 7));
        assert_ne!(draw(5, table::PERSON, 7), draw(5, table::POST, 7));
        assert_ne!(draw(5, table::PERSON, 7), draw(5, table::PERSON, 8));
    }

    #[test]
    fn proportions_follow_the_tis_shape() {
        let persons: Vec<Person> = (1..=20_000).map(|id| Person::draw(3, id)).collect();
        let share = |f: fn(&Person) -> bool| persons.iter().filter(|p| f(p)).count() as f64 / persons.len() as f64;
        assert!((0.97..0.99).contains(&share(|p| p.contact_details)));
        assert!((0.78..0.82).contains(&share(|p| p.gmc)));
        assert!((0.02..0.04).contains(&share(|p| p.gdc)));
    }
}
