//! Deterministic synthetic FHIR data: `firn synth`.
//!
//! Patients with encounters, conditions, observations, medication requests and immunizations,
//! cared for by a pool of practitioners and organizations. References are consistent, codes
//! are real (SNOMED CT, LOINC with UCUM units, RxNorm, CVX) and dates follow each patient's life.
//! The same `--seed` and `--patients` always give byte-identical output; each patient is drawn
//! from its own seeded generator and written as it is made, so output scales to millions of
//! resources in constant memory.
//!
//! Two layouts: NDJSON (one `Type.ndjson` per resource type, ids assigned here, ready for
//! `firn serve --load` or bulk import) and transaction Bundles (`bundle-NNNNNN.json`, at most
//! [`MAX_BUNDLE_ENTRIES`] entries each: a first one PUTs the shared practitioners and
//! organizations, the others POST patients with `urn:uuid:` references between their resources).

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Most entries per generated transaction Bundle.
pub const MAX_BUNDLE_ENTRIES: usize = 500;

/// Output layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Bundle,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub patients: usize,
    pub seed: u64,
    pub format: Format,
    pub out: PathBuf,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SynthReport {
    /// Resources per type.
    pub counts: BTreeMap<String, usize>,
    pub files: Vec<PathBuf>,
}

impl SynthReport {
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
}

/// SplitMix64: small, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next_u64() % xs.len() as u64) as usize]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    /// A UUID-shaped id.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

const GIVEN_F: &[&str] = &[
    "Ana", "Maria", "Emma", "Olivia", "Sofia", "Chloe", "Amara", "Yuki", "Fatima", "Ingrid",
    "Lucia", "Grace", "Priya", "Zoe", "Hannah", "Mei",
];
const GIVEN_M: &[&str] = &[
    "James", "Liam", "Noah", "Mateo", "Kenji", "Omar", "Lucas", "Arjun", "Ethan", "Felix", "Hugo",
    "Samuel", "Tariq", "Lars", "Diego", "Wei",
];
const FAMILY: &[&str] = &[
    "Silva",
    "Smith",
    "Garcia",
    "Müller",
    "Nguyen",
    "Okafor",
    "Kowalski",
    "Rossi",
    "Tanaka",
    "Johansson",
    "Dubois",
    "Khan",
    "O'Brien",
    "Novak",
    "Haddad",
    "Chalmers",
    "Lopez",
    "Kim",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Boston", "MA", "02110"),
    ("Springfield", "MA", "01103"),
    ("Worcester", "MA", "01608"),
    ("Lowell", "MA", "01852"),
    ("Cambridge", "MA", "02139"),
    ("Salem", "MA", "01970"),
];
/// (SNOMED code, display, chronic)
const CONDITIONS: &[(&str, &str, bool)] = &[
    (
        "38341003",
        "Hypertensive disorder, systemic arterial (disorder)",
        true,
    ),
    ("44054006", "Diabetes mellitus type 2 (disorder)", true),
    ("195967001", "Asthma (disorder)", true),
    ("55822004", "Hyperlipidemia (disorder)", true),
    ("10509002", "Acute bronchitis (disorder)", false),
    ("444814009", "Viral sinusitis (disorder)", false),
    ("195662009", "Acute viral pharyngitis (disorder)", false),
    ("40055000", "Chronic sinusitis (disorder)", true),
    ("72892002", "Normal pregnancy (finding)", false),
    ("162864005", "Body mass index 30+ - obesity (finding)", true),
];
/// (LOINC code, display, UCUM unit, low, high, decimals, category)
const OBSERVATIONS: &[(&str, &str, &str, f64, f64, u32, &str)] = &[
    (
        "8867-4",
        "Heart rate",
        "/min",
        55.0,
        110.0,
        0,
        "vital-signs",
    ),
    (
        "8480-6",
        "Systolic blood pressure",
        "mm[Hg]",
        100.0,
        170.0,
        0,
        "vital-signs",
    ),
    (
        "8462-4",
        "Diastolic blood pressure",
        "mm[Hg]",
        60.0,
        105.0,
        0,
        "vital-signs",
    ),
    (
        "29463-7",
        "Body weight",
        "kg",
        45.0,
        120.0,
        1,
        "vital-signs",
    ),
    (
        "8302-2",
        "Body height",
        "cm",
        150.0,
        195.0,
        1,
        "vital-signs",
    ),
    (
        "39156-5",
        "Body mass index (BMI) [Ratio]",
        "kg/m2",
        18.0,
        38.0,
        1,
        "vital-signs",
    ),
    (
        "8310-5",
        "Body temperature",
        "Cel",
        36.1,
        38.5,
        1,
        "vital-signs",
    ),
    (
        "2339-0",
        "Glucose [Mass/volume] in Blood",
        "mg/dL",
        70.0,
        180.0,
        0,
        "laboratory",
    ),
    (
        "4548-4",
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        "%",
        4.8,
        9.5,
        1,
        "laboratory",
    ),
    (
        "2093-3",
        "Cholesterol [Mass/volume] in Serum or Plasma",
        "mg/dL",
        140.0,
        280.0,
        0,
        "laboratory",
    ),
];
/// (RxNorm code, display)
const MEDICATIONS: &[(&str, &str)] = &[
    ("314076", "lisinopril 10 MG Oral Tablet"),
    (
        "860975",
        "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
    ),
    ("197361", "amlodipine 5 MG Oral Tablet"),
    ("617312", "atorvastatin 10 MG Oral Tablet"),
    (
        "745679",
        "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
    ),
    ("308182", "amoxicillin 250 MG Oral Capsule"),
    ("313782", "acetaminophen 325 MG Oral Tablet"),
    ("310965", "ibuprofen 200 MG Oral Tablet"),
];
/// (CVX code, display)
const VACCINES: &[(&str, &str)] = &[
    ("140", "Influenza, seasonal, injectable, preservative free"),
    (
        "208",
        "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose",
    ),
    ("113", "Td (adult) preservative free"),
    ("133", "Pneumococcal conjugate PCV 13"),
    ("43", "Hep B, adult"),
    ("115", "Tdap"),
];
/// (class code, class display, SNOMED type code, type display, hours)
const ENCOUNTERS: &[(&str, &str, &str, &str, i64)] = &[
    (
        "AMB",
        "ambulatory",
        "185349003",
        "Encounter for check up (procedure)",
        1,
    ),
    (
        "AMB",
        "ambulatory",
        "185347001",
        "Encounter for problem (procedure)",
        1,
    ),
    (
        "AMB",
        "ambulatory",
        "162673000",
        "General examination of patient (procedure)",
        1,
    ),
    (
        "EMER",
        "emergency",
        "50849002",
        "Emergency room admission (procedure)",
        4,
    ),
    (
        "IMP",
        "inpatient",
        "32485007",
        "Hospital admission (procedure)",
        72,
    ),
];

const DAY_MS: i64 = 86_400_000;
/// 2025-01-01T00:00:00Z: the generator's "today", fixed so output is reproducible.
const TODAY_MS: i64 = 1_735_689_600_000;

fn date(ms: i64) -> String {
    firn_core::search::value::format_instant(ms)[..10].to_string()
}

fn date_time(ms: i64) -> String {
    let s = firn_core::search::value::format_instant(ms);
    format!("{}Z", &s[..19])
}

fn round(v: f64, decimals: u32) -> f64 {
    let f = 10f64.powi(decimals as i32);
    (v * f).round() / f
}

/// The shared pool: organizations and practitioners (ids fixed by the seed).
struct Pool {
    orgs: Vec<Value>,
    practitioners: Vec<Value>,
}

fn pool(seed: u64, patients: usize) -> Pool {
    let mut rng = Rng::new(seed ^ 0x5eed_0000_0000_0001);
    let n_orgs = (patients / 200).clamp(1, 500);
    let n_prac = (patients / 50).clamp(2, 5000);
    let orgs = (0..n_orgs)
        .map(|i| {
            let id = rng.uuid();
            let (city, state, zip) = *rng.pick(CITIES);
            json!({
                "resourceType": "Organization", "id": id,
                "identifier": [{"system": "https://firn.dev/synth/organization", "value": format!("ORG-{:05}", i + 1)}],
                "active": true,
                "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov", "display": "Healthcare Provider"}]}],
                "name": format!("{city} Community Health Center {}", i + 1),
                "telecom": [{"system": "phone", "value": format!("555-{:04}", rng.range(0, 9999))}],
                "address": [{"line": [format!("{} Main Street", rng.range(1, 999))], "city": city, "state": state, "postalCode": zip, "country": "US"}]
            })
        })
        .collect::<Vec<_>>();
    let practitioners = (0..n_prac)
        .map(|i| {
            let id = rng.uuid();
            let female = rng.chance(50);
            let given = if female { *rng.pick(GIVEN_F) } else { *rng.pick(GIVEN_M) };
            json!({
                "resourceType": "Practitioner", "id": id,
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": format!("{}", 9_990_000_000u64 + i as u64)}],
                "active": true,
                "name": [{"family": *rng.pick(FAMILY), "given": [given], "prefix": ["Dr."]}],
                "gender": if female { "female" } else { "male" }
            })
        })
        .collect();
    Pool {
        orgs,
        practitioners,
    }
}

/// One patient's resources, Patient first. References are `Type/id`.
fn patient(seed: u64, index: usize, pool: &Pool) -> Vec<Value> {
    let mut rng =
        Rng::new(seed.wrapping_mul(0x100_0000_01b3) ^ (index as u64).wrapping_mul(0x9e37_79b9));
    for _ in 0..4 {
        rng.next_u64();
    }
    let pid = rng.uuid();
    let pref = format!("Patient/{pid}");
    let female = rng.chance(51);
    let given = if female {
        *rng.pick(GIVEN_F)
    } else {
        *rng.pick(GIVEN_M)
    };
    let family = *rng.pick(FAMILY);
    let birth = TODAY_MS - rng.range(365, 95 * 365) * DAY_MS;
    let (city, state, zip) = *rng.pick(CITIES);
    let org = rng.pick(&pool.orgs)["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let gp = rng.pick(&pool.practitioners)["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut patient = json!({
        "resourceType": "Patient", "id": pid,
        "identifier": [{"use": "usual", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical Record Number"}]},
                        "system": "https://firn.dev/synth/mrn", "value": format!("MRN-{:08}", index + 1)}],
        "active": true,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "telecom": [{"system": "phone", "value": format!("555-{:04}", rng.range(0, 9999)), "use": "home"}],
        "gender": if female { "female" } else { "male" },
        "birthDate": date(birth),
        "address": [{"line": [format!("{} {} Street", rng.range(1, 999), *rng.pick(FAMILY))], "city": city, "state": state, "postalCode": zip, "country": "US"}],
        "generalPractitioner": [{"reference": format!("Practitioner/{gp}")}],
        "managingOrganization": {"reference": format!("Organization/{org}")}
    });
    let deceased = rng.chance(3);
    if deceased {
        patient["deceasedDateTime"] = json!(date_time(TODAY_MS - rng.range(1, 300) * DAY_MS));
    }
    let mut out = vec![patient];
    let adult_from = birth + 18 * 365 * DAY_MS;
    let care_from = adult_from.min(TODAY_MS - 400 * DAY_MS).max(birth + DAY_MS);
    let n_enc = rng.range(2, 8) as usize;
    let mut chronic: Vec<usize> = Vec::new();
    for _ in 0..n_enc {
        let eid = rng.uuid();
        let (class, class_display, type_code, type_display, hours) = *rng.pick(ENCOUNTERS);
        let start = rng.range(care_from / 60_000, (TODAY_MS - DAY_MS) / 60_000) * 60_000;
        let end = start + hours * 3_600_000;
        let prac = rng.pick(&pool.practitioners)["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let eref = format!("Encounter/{eid}");
        out.push(json!({
            "resourceType": "Encounter", "id": eid, "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": class, "display": class_display},
            "type": [{"coding": [{"system": "http://snomed.info/sct", "code": type_code, "display": type_display}], "text": type_display}],
            "subject": {"reference": pref},
            "participant": [{"individual": {"reference": format!("Practitioner/{prac}")}}],
            "period": {"start": date_time(start), "end": date_time(end)},
            "serviceProvider": {"reference": format!("Organization/{org}")}
        }));
        if rng.chance(45) {
            let ci = (rng.next_u64() % CONDITIONS.len() as u64) as usize;
            let (code, display, is_chronic) = CONDITIONS[ci];
            if !(is_chronic && chronic.contains(&ci)) {
                if is_chronic {
                    chronic.push(ci);
                }
                let mut c = json!({
                    "resourceType": "Condition", "id": rng.uuid(),
                    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": if is_chronic { "active" } else { "resolved" }}]},
                    "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
                    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]}],
                    "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}], "text": display},
                    "subject": {"reference": pref},
                    "encounter": {"reference": eref},
                    "onsetDateTime": date_time(start),
                    "recordedDate": date_time(start)
                });
                if !is_chronic {
                    c["abatementDateTime"] = json!(date_time(start + rng.range(5, 30) * DAY_MS));
                }
                out.push(c);
            }
        }
        for _ in 0..rng.range(2, 5) {
            let (code, display, unit, lo, hi, decimals, category) = *rng.pick(OBSERVATIONS);
            let value = round(
                lo + (hi - lo) * (rng.next_u64() % 10_000) as f64 / 10_000.0,
                decimals,
            );
            out.push(json!({
                "resourceType": "Observation", "id": rng.uuid(), "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}], "text": display},
                "subject": {"reference": pref},
                "encounter": {"reference": eref},
                "effectiveDateTime": date_time(start + 600_000),
                "issued": firn_core::search::value::format_instant(start + 3_600_000),
                "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
            }));
        }
        if rng.chance(40) {
            let (code, display) = *rng.pick(MEDICATIONS);
            let active = start > TODAY_MS - 365 * DAY_MS;
            out.push(json!({
                "resourceType": "MedicationRequest", "id": rng.uuid(),
                "status": if active { "active" } else { "completed" },
                "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code, "display": display}], "text": display},
                "subject": {"reference": pref},
                "encounter": {"reference": eref},
                "authoredOn": date_time(start + 1_200_000),
                "requester": {"reference": format!("Practitioner/{prac}")},
                "dosageInstruction": [{"sequence": 1, "text": "Take as directed", "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}]
            }));
        }
        if rng.chance(30) {
            let (code, display) = *rng.pick(VACCINES);
            out.push(json!({
                "resourceType": "Immunization", "id": rng.uuid(), "status": "completed",
                "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": code, "display": display}], "text": display},
                "patient": {"reference": pref},
                "encounter": {"reference": eref},
                "occurrenceDateTime": date_time(start + 1_800_000),
                "primarySource": true
            }));
        }
    }
    out
}

/// Turns one patient's resources into transaction entries with `urn:uuid:` references.
fn to_entries(resources: Vec<Value>) -> Vec<Value> {
    let ids: Vec<(String, String)> = resources
        .iter()
        .map(|r| {
            (
                format!(
                    "{}/{}",
                    r["resourceType"].as_str().unwrap_or_default(),
                    r["id"].as_str().unwrap_or_default()
                ),
                format!("urn:uuid:{}", r["id"].as_str().unwrap_or_default()),
            )
        })
        .collect();
    resources
        .into_iter()
        .zip(ids.iter())
        .map(|(mut r, (_, urn))| {
            let ty = r["resourceType"].as_str().unwrap_or_default().to_string();
            if let Value::Object(m) = &mut r {
                m.remove("id");
            }
            let mut text = r.to_string();
            for (key, u) in &ids {
                text = text.replace(&format!("\"{key}\""), &format!("\"{u}\""));
            }
            let r: Value = serde_json::from_str(&text).unwrap_or(r);
            json!({"fullUrl": urn, "resource": r, "request": {"method": "POST", "url": ty}})
        })
        .collect()
}

struct BundleWriter {
    dir: PathBuf,
    n: usize,
    pending: Vec<Value>,
    files: Vec<PathBuf>,
}

impl BundleWriter {
    fn add(&mut self, entries: Vec<Value>) -> std::io::Result<()> {
        if self.pending.len() + entries.len() > MAX_BUNDLE_ENTRIES {
            self.flush()?;
        }
        self.pending.extend(entries);
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.n += 1;
        let path = self.dir.join(format!("bundle-{:06}.json", self.n));
        let b = json!({"resourceType": "Bundle", "type": "transaction", "entry": std::mem::take(&mut self.pending)});
        std::fs::write(
            &path,
            serde_json::to_vec(&b).map_err(std::io::Error::other)?,
        )?;
        self.files.push(path);
        Ok(())
    }
}

/// Generates the data set into `opts.out` (created when missing).
pub fn generate(opts: &SynthOptions) -> std::io::Result<SynthReport> {
    std::fs::create_dir_all(&opts.out)?;
    let pool = pool(opts.seed, opts.patients);
    let mut report = SynthReport::default();
    let mut count = |r: &Value| {
        *report
            .counts
            .entry(r["resourceType"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    };
    match opts.format {
        Format::Ndjson => {
            let mut writers: BTreeMap<String, BufWriter<File>> = BTreeMap::new();
            let mut files = Vec::new();
            let mut write = |r: &Value, files: &mut Vec<PathBuf>| -> std::io::Result<()> {
                let ty = r["resourceType"].as_str().unwrap_or_default().to_string();
                if !writers.contains_key(&ty) {
                    let path = opts.out.join(format!("{ty}.ndjson"));
                    writers.insert(ty.clone(), BufWriter::new(File::create(&path)?));
                    files.push(path);
                }
                if let Some(w) = writers.get_mut(&ty) {
                    serde_json::to_writer(&mut *w, r).map_err(std::io::Error::other)?;
                    w.write_all(b"\n")?;
                }
                Ok(())
            };
            for r in pool.orgs.iter().chain(&pool.practitioners) {
                write(r, &mut files)?;
                count(r);
            }
            for i in 0..opts.patients {
                for r in patient(opts.seed, i, &pool) {
                    write(&r, &mut files)?;
                    count(&r);
                }
            }
            for (_, mut w) in writers {
                w.flush()?;
            }
            files.sort();
            report.files = files;
        }
        Format::Bundle => {
            let mut bw = BundleWriter {
                dir: opts.out.clone(),
                n: 0,
                pending: Vec::new(),
                files: Vec::new(),
            };
            for r in pool.orgs.iter().chain(&pool.practitioners) {
                count(r);
                let ty = r["resourceType"].as_str().unwrap_or_default();
                let id = r["id"].as_str().unwrap_or_default();
                bw.add(vec![json!({"fullUrl": format!("{ty}/{id}"), "resource": r,
                                    "request": {"method": "PUT", "url": format!("{ty}/{id}")}})])?;
            }
            // Shared resources first, in their own bundle(s).
            bw.flush()?;
            for i in 0..opts.patients {
                let rs = patient(opts.seed, i, &pool);
                for r in &rs {
                    count(r);
                }
                bw.add(to_entries(rs))?;
            }
            bw.flush()?;
            report.files = bw.files;
        }
    }
    Ok(report)
}

/// Generates one patient's resources in memory (tests and benchmarks).
pub fn sample(seed: u64, patients: usize) -> Vec<Value> {
    let pool = pool(seed, patients);
    let mut out: Vec<Value> = pool
        .orgs
        .iter()
        .chain(&pool.practitioners)
        .cloned()
        .collect();
    for i in 0..patients {
        out.extend(patient(seed, i, &pool));
    }
    out
}

/// The default output directory.
pub fn default_out() -> &'static Path {
    Path::new("./firn-sample")
}
