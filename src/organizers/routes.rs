//! `/organizer`: the applicant's routes (start, step edits, submit, status, `me`), and the
//! router of the whole area; documents are in [`super::documents`], the admin review in
//! [`super::review`].

use crate::http::openapi::RoutesAt;
use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{
    Address, Application, ApplicationRow, ApplicationView, BankingInformation, BankingInput,
    ExperienceDetails, OrganizationDetails, PersonalInformation, missing_by_step,
};
use super::validate::{self, overlay};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiResponse, ApiResult, FieldError, OptionalApiJson, Validator,
};
use crate::notify::NewMessage;
use crate::state::AppState;
use crate::users::AuthUser;

/// Routes under `/organizer`.
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes_at(p, routes!(start_application))
        .routes_at(p, routes!(update_step))
        .routes_at(p, routes!(submit_application))
        .routes_at(p, routes!(application_status))
        .routes_at(p, routes!(my_application))
        .merge(super::documents::router(p))
        .merge(super::review::router(p))
}

/// How many times a step edit is retried when another edit of the same application lands
/// between its read and its write.
const EDIT_ATTEMPTS: usize = 3;

/// The sections a start or step body may carry.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartBody {
    pub personal_information: Option<PersonalInformation>,
    pub organization_details: Option<OrganizationDetails>,
    pub address: Option<Address>,
    pub banking_information: Option<BankingInput>,
    pub experience_details: Option<ExperienceDetails>,
}

/// A step edit: the step number and its section (API.md §11.29).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepBody {
    /// 1 personal, 2 organization, 3 address, 5 banking, 6 experience (4 is the documents
    /// upload).
    pub step: i64,
    pub personal_information: Option<PersonalInformation>,
    pub organization_details: Option<OrganizationDetails>,
    pub address: Option<Address>,
    pub banking_information: Option<BankingInput>,
    pub experience_details: Option<ExperienceDetails>,
}

/// Sections checked and normalized, ready to lay over an application.
#[derive(Debug, Default)]
struct Sections {
    personal: Option<PersonalInformation>,
    organization: Option<OrganizationDetails>,
    address: Option<Address>,
    banking: Option<BankingInput>,
    experience: Option<ExperienceDetails>,
}

impl Sections {
    /// Checks the format of every field given; 400 naming each bad one.
    fn check(body: StartBody) -> ApiResult<Self> {
        let mut v = Validator::new();
        let sections = Self {
            personal: body
                .personal_information
                .map(|p| validate::personal(&mut v, &p)),
            organization: body
                .organization_details
                .map(|o| validate::organization(&mut v, &o)),
            address: body.address.map(|a| validate::address(&mut v, &a)),
            banking: body
                .banking_information
                .map(|b| validate::banking(&mut v, &b)),
            experience: body
                .experience_details
                .map(|e| validate::experience(&mut v, &e)),
        };
        v.finish()?;
        Ok(sections)
    }

    /// Lays the sections over `row`, sealing a new account number bound to the application.
    fn apply(&self, state: &AppState, row: &mut ApplicationRow) {
        if let Some(p) = &self.personal {
            row.personal_information = overlay(&row.personal_information, p);
        }
        if let Some(o) = &self.organization {
            row.organization_details = overlay(&row.organization_details, o);
        }
        if let Some(a) = &self.address {
            row.address = overlay(&row.address, a);
        }
        if let Some(b) = &self.banking {
            let last4 = b.account_number.as_deref().map(|n| {
                let sealed = state.keyring.seal(n.as_bytes(), row.id.as_bytes());
                row.account_number_sealed = Some(sealed.ciphertext);
                row.account_key_id = Some(sealed.key_id);
                n[n.len() - 4..].to_string()
            });
            let update = BankingInformation {
                bank_name: b.bank_name.clone(),
                account_number_last4: last4,
                account_holder_name: b.account_holder_name.clone(),
                routing_number: b.routing_number.clone(),
            };
            row.banking_information = overlay(&row.banking_information, &update);
        }
        if let Some(e) = &self.experience {
            row.experience_details = overlay(&row.experience_details, e);
        }
    }
}

/// The step body's own section, refusing step 4, unknown steps and sections of other steps.
fn step_sections(body: StepBody) -> ApiResult<StartBody> {
    let given = [
        (
            1,
            "personalInformation",
            body.personal_information.is_some(),
        ),
        (
            2,
            "organizationDetails",
            body.organization_details.is_some(),
        ),
        (3, "address", body.address.is_some()),
        (5, "bankingInformation", body.banking_information.is_some()),
        (6, "experienceDetails", body.experience_details.is_some()),
    ];
    match body.step {
        4 => {
            return Err(ApiError::field(
                "step",
                "step 4 is completed by uploading documents to /organizer/onboarding/{id}/documents",
            ));
        }
        1..=6 => {}
        _ => return Err(ApiError::field("step", "must be 1, 2, 3, 5 or 6")),
    }
    let mut v = Validator::new();
    for (step, name, present) in given {
        if step == body.step && !present {
            v.add(name, &format!("is required for step {step}"));
        } else if step != body.step && present {
            v.add(
                name,
                &format!("belongs to step {step}, not step {}", body.step),
            );
        }
    }
    v.finish()?;
    Ok(StartBody {
        personal_information: body.personal_information,
        organization_details: body.organization_details,
        address: body.address,
        banking_information: body.banking_information,
        experience_details: body.experience_details,
    })
}

/// The caller's application: 404 when there is none or it is someone else's (API.md §11.5),
/// unless `admin_may_read` and the caller is an ADMIN.
pub(super) async fn visible_application(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    admin_may_read: bool,
) -> ApiResult<Application> {
    state
        .store
        .application_by_id(id)
        .await?
        .filter(|a| a.row.user_id == user.id || (admin_may_read && user.is_admin()))
        .ok_or_else(|| ApiError::not_found("Application"))
}

/// 409 `INVALID_STATE` unless the applicant may still change the application.
pub(super) fn require_editable(app: &Application) -> ApiResult<()> {
    if app.row.status.editable() {
        Ok(())
    } else {
        Err(ApiError::invalid_state(format!(
            "An application {} cannot be changed",
            app.row.status.as_str()
        )))
    }
}

/// The applicant's link to their application, in emails.
pub(super) fn application_url(id: Uuid) -> String {
    format!("/api/organizer/onboarding/{id}/status")
}

/// The name to greet the applicant by: the application's, else the account's.
pub(super) fn first_name_of(app: &Application, account_first_name: &str) -> String {
    app.row
        .personal_information
        .first_name
        .clone()
        .unwrap_or_else(|| account_first_name.to_string())
}

/// Starts an application, with any sections filled in already (one open application per user).
#[utoipa::path(post, path = "/organizer/onboarding/start", tag = "organizer",
    request_body(content = Option<StartBody>, description = "Sections so far; may be left out"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "A new DRAFT application", body = ApplicationView),
        (status = 400, description = "A field of a section is malformed (VALIDATION_FAILED naming it)"),
        (status = 409, description = "CONFLICT: the caller has an open application; `details` holds its id"),
    ))]
async fn start_application(
    State(state): State<AppState>,
    user: AuthUser,
    OptionalApiJson(body): OptionalApiJson<StartBody>,
) -> ApiResult<ApiResponse<ApplicationView>> {
    let sections = Sections::check(body)?;
    let account = state
        .store
        .user_by_id(user.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let mut row = ApplicationRow::draft(user.id, Utc::now());
    sections.apply(&state, &mut row);
    let first_name = row
        .personal_information
        .first_name
        .clone()
        .unwrap_or(account.first_name);
    let started = NewMessage::email(
        &account.email,
        "organizer_application_started",
        json!({"firstName": first_name, "applicationId": row.id, "applicationUrl": application_url(row.id)}),
    );
    if let Err(existing) = state.store.insert_application(&row, &started).await? {
        return Err(
            ApiError::conflict("You already have an open organizer application").with_details(
                vec![json!({"field": "id", "message": "the open application", "id": existing})],
            ),
        );
    }
    let app = Application {
        row,
        documents: Vec::new(),
    };
    Ok(ApiResponse::created(ApplicationView::from(&app)).message("Application started"))
}

/// Fills in or corrects one step (DRAFT or REQUIRES_ADDITIONAL_INFO only).
#[utoipa::path(patch, path = "/organizer/onboarding/{id}/step", tag = "organizer",
    params(("id" = Uuid, Path, description = "Application id")),
    request_body = StepBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The application", body = ApplicationView),
        (status = 400, description = "Step 4 or an unknown step, a missing or foreign section, a malformed field"),
        (status = 404, description = "No such application, or not yours"),
        (status = 409, description = "INVALID_STATE: the application is UNDER_REVIEW, APPROVED or REJECTED"),
    ))]
async fn update_step(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<StepBody>,
) -> ApiResult<ApiResponse<ApplicationView>> {
    let mut app = visible_application(&state, &user, id, false).await?;
    require_editable(&app)?;
    let sections = Sections::check(step_sections(body)?)?;
    for _ in 0..EDIT_ATTEMPTS {
        let mut row = app.row.clone();
        sections.apply(&state, &mut row);
        let now = Utc::now();
        if state.store.save_application_sections(&row, now).await? {
            let saved = visible_application(&state, &user, id, false).await?;
            return Ok(ApiResponse::ok(ApplicationView::from(&saved)).message("Step saved"));
        }
        app = visible_application(&state, &user, id, false).await?;
        require_editable(&app)?;
    }
    Err(ApiError::conflict(
        "The application is being changed by another request; try again",
    ))
}

/// Submits a complete application for review; emails the applicant and the admins.
#[utoipa::path(post, path = "/organizer/onboarding/{id}/submit", tag = "organizer",
    params(("id" = Uuid, Path, description = "Application id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The application, UNDER_REVIEW", body = ApplicationView),
        (status = 400, description = "Incomplete: `details` lists every missing field"),
        (status = 404, description = "No such application, or not yours"),
        (status = 409, description = "INVALID_STATE: not DRAFT nor REQUIRES_ADDITIONAL_INFO"),
    ))]
async fn submit_application(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<ApplicationView>> {
    let app = visible_application(&state, &user, id, false).await?;
    require_editable(&app)?;
    let missing: Vec<FieldError> = missing_by_step(&app)
        .into_iter()
        .flatten()
        .map(|field| FieldError {
            message: match field.as_str() {
                "organizationDetails.businessRegistrationNumber" | "organizationDetails.taxId" => {
                    "is required for a company".to_string()
                }
                "documents.businessLicense" | "documents.taxDocument" => {
                    "is required for a company or nonprofit".to_string()
                }
                _ => "is required".to_string(),
            },
            field,
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::validation(missing));
    }
    let account = state
        .store
        .user_by_id(user.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let p = &app.row.personal_information;
    let applicant_name = format!(
        "{} {}",
        p.first_name.as_deref().unwrap_or(&account.first_name),
        p.last_name.as_deref().unwrap_or(&account.last_name)
    );
    let mut messages = vec![NewMessage::email(
        &account.email,
        "organizer_application_submitted",
        json!({"firstName": first_name_of(&app, &account.first_name), "applicationId": id, "applicationUrl": application_url(id)}),
    )];
    let admins = match &state.config.admin_notify_email {
        Some(to) => vec![to.clone()],
        None => state.store.admin_emails().await?,
    };
    for admin in admins {
        messages.push(NewMessage::email(
            admin,
            "organizer_application_submitted_admin",
            json!({
                "applicantName": applicant_name,
                "applicantEmail": account.email,
                "organizationName": app.row.organization_details.organization_name,
                "applicationId": id,
                "applicationUrl": application_url(id),
            }),
        ));
    }
    let now = Utc::now();
    if !state
        .store
        .submit_application(id, app.row.version, now, &messages)
        .await?
    {
        let now_app = visible_application(&state, &user, id, false).await?;
        require_editable(&now_app)?;
        return Err(ApiError::conflict(
            "The application changed while it was being submitted; check it and submit again",
        ));
    }
    let submitted = visible_application(&state, &user, id, false).await?;
    Ok(ApiResponse::ok(ApplicationView::from(&submitted))
        .message("Application submitted for review"))
}

/// An application (its owner or an ADMIN).
#[utoipa::path(get, path = "/organizer/onboarding/{id}/status", tag = "organizer",
    params(("id" = Uuid, Path, description = "Application id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The application", body = ApplicationView),
        (status = 404, description = "No such application, or not yours"),
    ))]
async fn application_status(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<ApplicationView>> {
    let app = visible_application(&state, &user, id, true).await?;
    Ok(ApiResponse::ok(ApplicationView::from(&app)))
}

/// The caller's newest application.
#[utoipa::path(get, path = "/organizer/me", tag = "organizer",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's newest application", body = ApplicationView),
        (status = 404, description = "The caller has never applied"),
    ))]
async fn my_application(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<ApiResponse<ApplicationView>> {
    let app = state
        .store
        .latest_application_of(user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Application"))?;
    Ok(ApiResponse::ok(ApplicationView::from(&app)))
}
