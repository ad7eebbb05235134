//! Organizer applications: statuses, the sections as stored and shown, documents, the stored
//! row, the public view, and the completion computed from what is actually present.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

crate::stored_names! {
    /// Where an application stands (API.md §6).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum ApplicationStatus as "application status" {
        /// Being filled in by the applicant.
        Draft = "DRAFT",
        /// Submitted; waiting for an admin.
        UnderReview = "UNDER_REVIEW",
        /// Sent back by an admin with a note; editable again, then resubmitted.
        RequiresAdditionalInfo = "REQUIRES_ADDITIONAL_INFO",
        /// The applicant is an organizer.
        Approved = "APPROVED",
        /// Closed; the applicant may start a new application.
        Rejected = "REJECTED",
    }
}

impl ApplicationStatus {
    /// Whether the applicant may change the application (steps, documents) and submit it.
    pub fn editable(self) -> bool {
        matches!(self, Self::Draft | Self::RequiresAdditionalInfo)
    }
}

/// What kind of body organizes the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrganizationType {
    Individual,
    /// Needs a registration number, a tax id, a business license and a tax document.
    Company,
    /// Needs a business license and a tax document.
    Nonprofit,
}

/// How much the applicant has organized before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventExperience {
    Beginner,
    Intermediate,
    Experienced,
}

/// Events the applicant expects to run a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EventVolume {
    #[serde(rename = "1-5")]
    Few,
    #[serde(rename = "6-15")]
    Some,
    #[serde(rename = "16+")]
    Many,
}

/// Step 1. Every field may be left out of a step body; all are required at submit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersonalInformation {
    /// 2–50 characters.
    pub first_name: Option<String>,
    /// 2–50 characters.
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    /// `YYYY-MM-DD`, in the past.
    pub date_of_birth: Option<String>,
}

/// Step 2.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganizationDetails {
    pub organization_type: Option<OrganizationType>,
    /// 2–100 characters; required unless `individual`.
    pub organization_name: Option<String>,
    /// Required for a company.
    pub business_registration_number: Option<String>,
    /// Required for a company.
    pub tax_id: Option<String>,
    /// An http(s) URL.
    pub website: Option<String>,
    /// 10–500 characters.
    pub description: Option<String>,
}

/// Step 3. Published as `ApplicationAddress`: the users area has an `Address` of its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = ApplicationAddress)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    /// Street and number.
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    /// 3–10 letters, digits, spaces or hyphens.
    pub zip_code: Option<String>,
    /// ISO 3166-1 alpha-2 (`NG`).
    pub country: Option<String>,
}

/// Step 5 as sent: the full account number, which is sealed at once and never stored plain.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BankingInput {
    pub bank_name: Option<String>,
    /// 8–20 digits.
    pub account_number: Option<String>,
    pub account_holder_name: Option<String>,
    pub routing_number: Option<String>,
}

/// Step 5 as stored and shown: the account number only by its last 4 digits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BankingInformation {
    pub bank_name: Option<String>,
    pub account_number_last4: Option<String>,
    pub account_holder_name: Option<String>,
    pub routing_number: Option<String>,
}

/// Step 6.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperienceDetails {
    pub event_experience: Option<EventExperience>,
    /// Free text, at most 1000 characters.
    pub previous_events: Option<String>,
    pub expected_event_volume: Option<EventVolume>,
}

/// Sections are stored as JSON text (portable across both backends).
macro_rules! json_column {
    ($($ty:ty),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = serde_json::Error;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                serde_json::from_str(&text)
            }
        }
    )*};
}

json_column!(
    PersonalInformation,
    OrganizationDetails,
    Address,
    BankingInformation,
    ExperienceDetails
);

crate::stored_names! {
    /// The three documents, named as their multipart fields.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub enum DocumentType as "document type" {
        /// Always required.
        IdDocument = "idDocument",
        /// Required for companies and nonprofits.
        BusinessLicense = "businessLicense",
        /// Required for companies and nonprofits.
        TaxDocument = "taxDocument",
    }
}

/// A stored application.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApplicationRow {
    pub id: Uuid,
    /// The applicant.
    pub user_id: Uuid,
    #[sqlx(try_from = "String")]
    pub status: ApplicationStatus,
    #[sqlx(try_from = "String")]
    pub personal_information: PersonalInformation,
    #[sqlx(try_from = "String")]
    pub organization_details: OrganizationDetails,
    #[sqlx(try_from = "String")]
    pub address: Address,
    #[sqlx(try_from = "String")]
    pub banking_information: BankingInformation,
    /// The account number sealed by the keyring (base64), bound to the application id.
    pub account_number_sealed: Option<String>,
    /// Which key sealed it.
    pub account_key_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub experience_details: ExperienceDetails,
    pub rejection_reason: Option<String>,
    pub reviewer_note: Option<String>,
    /// The admin who decided last.
    pub reviewed_by: Option<Uuid>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Bumped by every change: a step edit writes only over the version it read.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ApplicationRow {
    /// A new, empty DRAFT of `user_id`, created `now`.
    pub fn draft(user_id: Uuid, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            user_id,
            status: ApplicationStatus::Draft,
            personal_information: PersonalInformation::default(),
            organization_details: OrganizationDetails::default(),
            address: Address::default(),
            banking_information: BankingInformation::default(),
            account_number_sealed: None,
            account_key_id: None,
            experience_details: ExperienceDetails::default(),
            rejection_reason: None,
            reviewer_note: None,
            reviewed_by: None,
            submitted_at: None,
            reviewed_at: None,
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A stored document of an application.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocumentRow {
    pub application_id: Uuid,
    /// `idDocument`, `businessLicense` or `taxDocument`.
    pub doc_type: String,
    /// The file store's name, chosen by the server.
    pub object_name: String,
    /// As sniffed from the bytes.
    pub content_type: String,
    pub size_bytes: i64,
    pub uploaded_at: DateTime<Utc>,
}

/// An application with its documents.
#[derive(Debug, Clone)]
pub struct Application {
    pub row: ApplicationRow,
    pub documents: Vec<DocumentRow>,
}

impl Application {
    /// The document of a type, if uploaded.
    pub fn document(&self, kind: DocumentType) -> Option<&DocumentRow> {
        self.documents.iter().find(|d| d.doc_type == kind.as_str())
    }
}

/// How far an application is, from what it actually holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    /// 0–100, the share of the six steps complete.
    pub percentage: u8,
    /// Numbers of the complete steps, ascending.
    pub completed_steps: Vec<u8>,
    /// What is still missing, by field (`personalInformation.phone`, `documents.idDocument`).
    pub pending_requirements: Vec<String>,
}

impl Completion {
    /// The lowest incomplete step, or 6 when all are complete.
    pub fn current_step(&self) -> u8 {
        (1..=6)
            .find(|s| !self.completed_steps.contains(s))
            .unwrap_or(6)
    }
}

/// Whether an optional text holds something.
fn given(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

/// What each step still misses (field paths), in step order.
pub fn missing_by_step(app: &Application) -> [Vec<String>; 6] {
    let r = &app.row;
    let need = |section: &str, fields: &[(&str, bool)]| -> Vec<String> {
        fields
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| format!("{section}.{name}"))
            .collect()
    };
    let p = &r.personal_information;
    let o = &r.organization_details;
    let a = &r.address;
    let b = &r.banking_information;
    let e = &r.experience_details;
    let kind = o.organization_type;
    let company = kind == Some(OrganizationType::Company);
    let registered = matches!(
        kind,
        Some(OrganizationType::Company | OrganizationType::Nonprofit)
    );
    let mut documents = vec![DocumentType::IdDocument];
    if registered {
        documents.extend([DocumentType::BusinessLicense, DocumentType::TaxDocument]);
    }
    [
        need(
            "personalInformation",
            &[
                ("firstName", given(&p.first_name)),
                ("lastName", given(&p.last_name)),
                ("email", given(&p.email)),
                ("phone", given(&p.phone)),
                ("dateOfBirth", given(&p.date_of_birth)),
            ],
        ),
        need(
            "organizationDetails",
            &[
                ("organizationType", kind.is_some()),
                (
                    "organizationName",
                    kind == Some(OrganizationType::Individual) || given(&o.organization_name),
                ),
                (
                    "businessRegistrationNumber",
                    !company || given(&o.business_registration_number),
                ),
                ("taxId", !company || given(&o.tax_id)),
                ("description", given(&o.description)),
            ],
        ),
        need(
            "address",
            &[
                ("address", given(&a.address)),
                ("city", given(&a.city)),
                ("state", given(&a.state)),
                ("zipCode", given(&a.zip_code)),
                ("country", given(&a.country)),
            ],
        ),
        documents
            .into_iter()
            .filter(|d| app.document(*d).is_none())
            .map(|d| format!("documents.{}", d.as_str()))
            .collect(),
        need(
            "bankingInformation",
            &[
                ("bankName", given(&b.bank_name)),
                (
                    "accountNumber",
                    given(&b.account_number_last4) && r.account_number_sealed.is_some(),
                ),
                ("accountHolderName", given(&b.account_holder_name)),
            ],
        ),
        need(
            "experienceDetails",
            &[
                ("eventExperience", e.event_experience.is_some()),
                ("expectedEventVolume", e.expected_event_volume.is_some()),
            ],
        ),
    ]
}

/// The completion of an application.
pub fn completion(app: &Application) -> Completion {
    let missing = missing_by_step(app);
    let completed_steps: Vec<u8> = (1..=6u8)
        .filter(|s| missing[usize::from(*s) - 1].is_empty())
        .collect();
    // Rounded to the nearest whole percent: 1 step of 6 is 17.
    let percentage = ((completed_steps.len() * 100 + 3) / 6) as u8;
    Completion {
        percentage,
        completed_steps,
        pending_requirements: missing.into_iter().flatten().collect(),
    }
}

/// An admin's decision on an application UNDER_REVIEW.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// APPROVED, REJECTED or REQUIRES_ADDITIONAL_INFO.
    pub to: ApplicationStatus,
    /// The admin.
    pub reviewer: Uuid,
    /// Why it was rejected.
    pub reason: Option<&'a str>,
    /// What more is needed.
    pub note: Option<&'a str>,
    /// When.
    pub now: DateTime<Utc>,
}

impl Decision<'_> {
    /// `reviewer`'s decision, taken now, with neither reason nor note.
    pub fn by(reviewer: Uuid, to: ApplicationStatus) -> Self {
        Self {
            to,
            reviewer,
            reason: None,
            note: None,
            now: Utc::now(),
        }
    }
}

/// One document as the application shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentView {
    /// `UPLOADED` or `MISSING`.
    pub status: &'static str,
    pub uploaded_at: Option<DateTime<Utc>>,
    /// `image/jpeg`, `image/png` or `application/pdf`, as recognized from the bytes.
    pub content_type: Option<String>,
}

/// The three documents.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentsView {
    pub id_document: DocumentView,
    pub business_license: DocumentView,
    pub tax_document: DocumentView,
}

/// The application object of API.md §6.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: ApplicationStatus,
    /// The lowest incomplete step (1–6), 6 when all are complete.
    pub current_step: u8,
    pub personal_information: PersonalInformation,
    pub organization_details: OrganizationDetails,
    pub address: Address,
    pub documents: DocumentsView,
    pub banking_information: BankingInformation,
    pub experience_details: ExperienceDetails,
    pub completion: Completion,
    pub rejection_reason: Option<String>,
    pub reviewer_note: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Application> for ApplicationView {
    fn from(app: &Application) -> Self {
        let doc = |kind| match app.document(kind) {
            Some(d) => DocumentView {
                status: "UPLOADED",
                uploaded_at: Some(d.uploaded_at),
                content_type: Some(d.content_type.clone()),
            },
            None => DocumentView {
                status: "MISSING",
                uploaded_at: None,
                content_type: None,
            },
        };
        let completion = completion(app);
        let r = &app.row;
        Self {
            id: r.id,
            user_id: r.user_id,
            status: r.status,
            current_step: completion.current_step(),
            personal_information: r.personal_information.clone(),
            organization_details: r.organization_details.clone(),
            address: r.address.clone(),
            documents: DocumentsView {
                id_document: doc(DocumentType::IdDocument),
                business_license: doc(DocumentType::BusinessLicense),
                tax_document: doc(DocumentType::TaxDocument),
            },
            banking_information: r.banking_information.clone(),
            experience_details: r.experience_details.clone(),
            completion,
            rejection_reason: r.rejection_reason.clone(),
            reviewer_note: r.reviewer_note.clone(),
            submitted_at: r.submitted_at,
            reviewed_at: r.reviewed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn application(kind: Option<OrganizationType>) -> Application {
        let mut row = ApplicationRow::draft(Uuid::now_v7(), Utc::now());
        row.organization_details.organization_type = kind;
        Application {
            row,
            documents: Vec::new(),
        }
    }

    fn text(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    fn document(app: &Application, kind: DocumentType) -> DocumentRow {
        DocumentRow {
            application_id: app.row.id,
            doc_type: kind.as_str().to_string(),
            object_name: format!("documents/{}/x.pdf", app.row.id),
            content_type: "application/pdf".into(),
            size_bytes: 10,
            uploaded_at: Utc::now(),
        }
    }

    /// Every step filled in, for an organization of `kind`, with only the ID document.
    fn filled(kind: OrganizationType) -> Application {
        let mut app = application(Some(kind));
        let r = &mut app.row;
        r.personal_information = PersonalInformation {
            first_name: text("Ada"),
            last_name: text("Okafor"),
            email: text("ada@example.com"),
            phone: text("+2348012345678"),
            date_of_birth: text("1990-01-01"),
        };
        r.organization_details.organization_name = text("Lagos Live");
        r.organization_details.description = text("Concerts in Lagos");
        r.address = Address {
            address: text("12 Marina"),
            city: text("Lagos"),
            state: text("Lagos"),
            zip_code: text("101001"),
            country: text("NG"),
        };
        r.banking_information = BankingInformation {
            bank_name: text("First Bank"),
            account_number_last4: text("6789"),
            account_holder_name: text("Ada Okafor"),
            routing_number: None,
        };
        r.account_number_sealed = text("sealed");
        r.experience_details = ExperienceDetails {
            event_experience: Some(EventExperience::Beginner),
            previous_events: None,
            expected_event_volume: Some(EventVolume::Few),
        };
        let id = document(&app, DocumentType::IdDocument);
        app.documents.push(id);
        app
    }

    #[test]
    fn an_empty_application_is_at_step_one_with_everything_pending() {
        let c = completion(&application(None));
        assert_eq!(c.percentage, 0);
        assert!(c.completed_steps.is_empty());
        assert_eq!(c.current_step(), 1);
        assert!(
            c.pending_requirements
                .contains(&"personalInformation.firstName".into())
        );
        assert!(
            c.pending_requirements
                .contains(&"organizationDetails.organizationType".into())
        );
        assert!(
            c.pending_requirements
                .contains(&"documents.idDocument".into())
        );
        assert!(
            !c.pending_requirements
                .contains(&"documents.taxDocument".into())
        );
    }

    #[test]
    fn a_complete_individual_is_at_100_percent_and_step_six() {
        let c = completion(&filled(OrganizationType::Individual));
        assert_eq!(c.completed_steps, [1, 2, 3, 4, 5, 6]);
        assert_eq!((c.percentage, c.current_step()), (100, 6));
        assert!(c.pending_requirements.is_empty());
    }

    #[test]
    fn a_company_needs_its_numbers_and_all_three_documents() {
        let mut app = filled(OrganizationType::Company);
        let c = completion(&app);
        assert_eq!(c.completed_steps, [1, 3, 5, 6]);
        assert_eq!((c.percentage, c.current_step()), (67, 2));
        assert_eq!(
            c.pending_requirements,
            [
                "organizationDetails.businessRegistrationNumber",
                "organizationDetails.taxId",
                "documents.businessLicense",
                "documents.taxDocument"
            ]
        );
        app.row.organization_details.business_registration_number = text("RC-1");
        app.row.organization_details.tax_id = text("TIN-1");
        for kind in [DocumentType::BusinessLicense, DocumentType::TaxDocument] {
            let doc = document(&app, kind);
            app.documents.push(doc);
        }
        assert_eq!(completion(&app).percentage, 100);
    }

    #[test]
    fn a_nonprofit_needs_the_documents_but_not_the_company_numbers() {
        let c = completion(&filled(OrganizationType::Nonprofit));
        assert_eq!(c.completed_steps, [1, 2, 3, 5, 6]);
        assert_eq!(
            c.pending_requirements,
            ["documents.businessLicense", "documents.taxDocument"]
        );
    }

    #[test]
    fn an_individual_needs_no_organization_name_and_blank_text_counts_as_missing() {
        let mut app = filled(OrganizationType::Individual);
        app.row.organization_details.organization_name = None;
        app.row.address.city = text("  ");
        let c = completion(&app);
        assert_eq!(c.pending_requirements, ["address.city"]);
        assert_eq!(c.current_step(), 3);
    }

    #[test]
    fn statuses_round_trip_and_only_draft_and_info_requested_are_editable() {
        for s in ApplicationStatus::ALL {
            assert_eq!(ApplicationStatus::parse(s.as_str()), Some(s));
        }
        let editable: Vec<_> = ApplicationStatus::ALL
            .into_iter()
            .filter(|s| s.editable())
            .collect();
        assert_eq!(
            editable,
            [
                ApplicationStatus::Draft,
                ApplicationStatus::RequiresAdditionalInfo
            ]
        );
    }
}
