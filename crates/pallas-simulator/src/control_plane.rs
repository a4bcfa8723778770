//! The Bedrock control-plane listing calls `aws-sdk-bedrock` makes for `pallas models`:
//! `GET /foundation-models` (ListFoundationModels) and `GET /inference-profiles`
//! (ListInferenceProfiles), with the documented query filters, pagination and JSON shapes.
//!
//! The catalogue is a fixed, realistic sample (a few models per provider, profile-only models
//! with `INFERENCE_PROFILE` as their only inference type, an embedding model that does not
//! stream, one application inference profile). ARNs use the region the request was signed
//! for, so a client configured for `eu-west-1` sees `eu.` profiles.

use axum::http::Method;
use serde_json::{Value, json};

use super::catalogue::CATALOGUE;
use super::errors::ApiError;

/// Page size when the caller sends no `maxResults`; small so clients must follow
/// `nextToken` (the real service pages too).
const DEFAULT_PAGE: usize = 4;
/// The simulator's account id in ARNs.
const ACCOUNT: &str = "123456789012";

/// The control-plane operation a request names, if any.
pub(crate) fn operation(method: &Method, path: &str) -> Option<&'static str> {
    if *method != Method::GET {
        return None;
    }
    match path.trim_end_matches('/') {
        "/foundation-models" => Some("ListFoundationModels"),
        "/inference-profiles" => Some("ListInferenceProfiles"),
        _ => None,
    }
}

/// Answers a control-plane operation named by [`operation`].
pub(crate) fn respond(
    operation: &str,
    query: Option<&str>,
    region: &str,
) -> Result<Value, ApiError> {
    let query = parse_query(query.unwrap_or(""));
    match operation {
        "ListFoundationModels" => list_foundation_models(&query, region),
        "ListInferenceProfiles" => list_inference_profiles(&query, region),
        other => Err(ApiError::validation(format!(
            "The Bedrock simulator does not implement {other}."
        ))),
    }
}

/// Runtime calls with the bare id of a model the catalogue lists as `INFERENCE_PROFILE`-only
/// fail the way Bedrock fails them, so clients must name a profile (`us.…`, an ARN).
pub(crate) fn check_on_demand(model_id: &str) -> Result<(), ApiError> {
    match CATALOGUE.iter().find(|m| m.id == model_id) {
        Some(m) if !m.inference.contains(&"ON_DEMAND") => Err(ApiError::validation(format!(
            "Invocation of model ID {model_id} with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
        ))),
        _ => Ok(()),
    }
}

/// The region from a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20250101/us-east-1/bedrock/aws4_request`); `us-east-1` for bearer tokens.
pub(crate) fn signed_region(authorization: Option<&str>) -> String {
    authorization
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .filter(|r| !r.is_empty())
        .unwrap_or("us-east-1")
        .to_string()
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                super::server::percent_decode(&k.replace('+', " ")),
                super::server::percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

fn param<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn model_arn(region: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{id}")
}

fn list_foundation_models(query: &[(String, String)], region: &str) -> Result<Value, ApiError> {
    let by_provider = param(query, "byProvider").map(str::to_ascii_lowercase);
    let by_output = param(query, "byOutputModality");
    let by_inference = param(query, "byInferenceType");
    if let Some(m) = by_output
        && !["TEXT", "IMAGE", "EMBEDDING"].contains(&m)
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{m}' at 'byOutputModality' failed to satisfy constraint: Member must satisfy enum value set: [TEXT, IMAGE, EMBEDDING]"
        )));
    }
    if let Some(t) = by_inference
        && !["ON_DEMAND", "PROVISIONED"].contains(&t)
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{t}' at 'byInferenceType' failed to satisfy constraint: Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]"
        )));
    }
    let summaries: Vec<Value> = CATALOGUE
        .iter()
        .filter(|m| {
            by_provider.as_deref().is_none_or(|p| {
                m.provider.to_ascii_lowercase() == p || m.id.starts_with(&format!("{p}."))
            })
        })
        .filter(|m| by_output.is_none_or(|o| m.output.contains(&o)))
        .filter(|m| by_inference.is_none_or(|t| m.inference.contains(&t)))
        .map(|m| {
            json!({
                "modelArn": model_arn(region, m.id),
                "modelId": m.id,
                "modelName": m.name,
                "providerName": m.provider,
                "inputModalities": m.input,
                "outputModalities": m.output,
                "responseStreamingSupported": m.streaming,
                "customizationsSupported": [],
                "inferenceTypesSupported": m.inference,
                "modelLifecycle": { "status": "ACTIVE" },
            })
        })
        .collect();
    Ok(json!({ "modelSummaries": summaries }))
}

/// The geography of `region` and the regions its profiles route to.
fn geography(region: &str) -> (&'static str, &'static [&'static str]) {
    match region {
        r if r.starts_with("eu-") => ("eu", &["eu-central-1", "eu-west-1", "eu-west-3"]),
        "ap-northeast-1" | "ap-northeast-3" => ("jp", &["ap-northeast-1", "ap-northeast-3"]),
        "ap-southeast-2" | "ap-southeast-4" => ("au", &["ap-southeast-2", "ap-southeast-4"]),
        r if r.starts_with("ap-") => ("apac", &["ap-northeast-1", "ap-south-1", "ap-southeast-1"]),
        _ => ("us", &["us-east-1", "us-east-2", "us-west-2"]),
    }
}

fn all_profiles(region: &str) -> Vec<Value> {
    let (geo, regions) = geography(region);
    let mut out = Vec::new();
    for m in CATALOGUE {
        for g in [geo, "global"] {
            if !m.geos.contains(&g) {
                continue;
            }
            let id = format!("{g}.{}", m.id);
            let models: Vec<Value> = if g == "global" {
                vec![json!({ "modelArn": format!("arn:aws:bedrock:::foundation-model/{}", m.id) })]
            } else {
                regions
                    .iter()
                    .map(|r| json!({ "modelArn": model_arn(r, m.id) }))
                    .collect()
            };
            let scope = if g == "global" {
                "Global"
            } else {
                &g.to_ascii_uppercase()
            };
            out.push(json!({
                "inferenceProfileName": format!("{scope} {}", m.name),
                "description": format!("Routes requests to {} in {}.", m.name, if g == "global" { "commercial regions worldwide".to_string() } else { regions.join(", ") }),
                "inferenceProfileArn": format!("arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/{id}"),
                "inferenceProfileId": id,
                "models": models,
                "status": "ACTIVE",
                "type": "SYSTEM_DEFINED",
            }));
        }
    }
    out.push(json!({
        "inferenceProfileName": "team-sonnet",
        "description": "Application inference profile for cost tracking",
        "inferenceProfileArn": format!("arn:aws:bedrock:{region}:{ACCOUNT}:application-inference-profile/sim0app1prof"),
        "inferenceProfileId": "sim0app1prof",
        "models": [{ "modelArn": model_arn(region, "anthropic.claude-sonnet-4-6") }],
        "status": "ACTIVE",
        "type": "APPLICATION",
    }));
    out
}

fn list_inference_profiles(query: &[(String, String)], region: &str) -> Result<Value, ApiError> {
    let type_equals = param(query, "type");
    if let Some(t) = type_equals
        && !["SYSTEM_DEFINED", "APPLICATION"].contains(&t)
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{t}' at 'typeEquals' failed to satisfy constraint: Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]"
        )));
    }
    let page = match param(query, "maxResults") {
        None => DEFAULT_PAGE,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
                )));
            }
        },
    };
    let start = match param(query, "nextToken") {
        None => 0,
        Some(t) => t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| ApiError::validation("The nextToken is not valid."))?,
    };
    let all: Vec<Value> = all_profiles(region)
        .into_iter()
        .filter(|p| type_equals.is_none_or(|t| p["type"] == t))
        .collect();
    let end = (start + page).min(all.len());
    let mut body = json!({ "inferenceProfileSummaries": all.get(start..end).unwrap_or(&[]) });
    if end < all.len() {
        body["nextToken"] = json!(format!("page-{end}"));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_pages_like_the_service() {
        let q = parse_query("byProvider=anthropic&byInferenceType=ON_DEMAND");
        let body = list_foundation_models(&q, "us-east-1").unwrap();
        let ids: Vec<&str> = body["modelSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["modelId"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"anthropic.claude-sonnet-4-6"), "{ids:?}");
        assert!(
            !ids.contains(&"anthropic.claude-haiku-4-5-20251001-v1:0"),
            "profile-only"
        );
        assert!(ids.iter().all(|i| i.starts_with("anthropic.")), "{ids:?}");

        let first = list_inference_profiles(&parse_query(""), "eu-west-1").unwrap();
        let token = first["nextToken"].as_str().unwrap();
        assert_eq!(
            first["inferenceProfileSummaries"].as_array().unwrap().len(),
            DEFAULT_PAGE
        );
        assert!(
            first["inferenceProfileSummaries"][0]["inferenceProfileId"]
                .as_str()
                .unwrap()
                .starts_with("eu.")
        );
        let rest = list_inference_profiles(
            &parse_query(&format!("nextToken={token}&maxResults=1000")),
            "eu-west-1",
        )
        .unwrap();
        assert!(rest.get("nextToken").is_none());
        let apps = list_inference_profiles(&parse_query("type=APPLICATION"), "us-east-1").unwrap();
        assert_eq!(apps["inferenceProfileSummaries"][0]["type"], "APPLICATION");
        assert!(list_inference_profiles(&parse_query("type=NOPE"), "us-east-1").is_err());
        assert!(check_on_demand("anthropic.claude-haiku-4-5-20251001-v1:0").is_err());
        assert!(check_on_demand("us.anthropic.claude-haiku-4-5-20251001-v1:0").is_ok());
        assert!(check_on_demand("anthropic.claude-sonnet-4-6").is_ok());
        assert_eq!(
            signed_region(Some(
                "AWS4-HMAC-SHA256 Credential=AKID/20250101/eu-west-1/bedrock/aws4_request, SignedHeaders=host"
            )),
            "eu-west-1"
        );
    }
}
