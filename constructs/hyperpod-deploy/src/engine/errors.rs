//! How AWS errors are told.

/// The error text of an SDK error: the service's code and message when it answered, the
/// whole chain of causes otherwise (moto's HTML errors have no code).
pub(super) fn describe<E>(error: &aws_sdk_cloudformation::error::SdkError<E>) -> String
where
    E: std::error::Error + aws_sdk_cloudformation::error::ProvideErrorMetadata + 'static,
{
    match error.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no message")
        ),
        None => aws_sdk_cloudformation::error::DisplayErrorContext(error).to_string(),
    }
}
