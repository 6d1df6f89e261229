//! Operators fix an address (issue 23, point 6), in the browser: a learner registered with a
//! misspelled address; an operator corrects it on the card with "Change email" (confirming with
//! a code from their app); the activation link arrives at the corrected mailbox, the learner
//! activates from it and signs in with the corrected address, and the link mailed to the
//! misspelled address no longer works.
//!
//! A child of `console`, for its operator helpers (an operator with an app, the console's way
//! in, the confirmation, the look-up).

use super::Journey;
use learners::flows::registration::{register, RegistrationForm};
use learners_tests::{email, unique, Backend, PASSWORD};

async fn an_operator_corrects_a_pending_learners_misspelled_address(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    let right = email("pat");
    let typo = right.replace("@example.com", "@exmaple.com");
    let form = RegistrationForm {
        email: typo.clone(),
        username: unique("pat"),
        name: "Pat Lovelace".into(),
        password: PASSWORD.into(),
        terms_accepted: true,
    };
    register(&j.site.app, &form).await.expect("registration");
    let old_link = j.site.mailed_link(&typo, "Activate", "/activate/").await;

    j.open_console_as(&operator).await;
    // Past the 5 minutes in which the sign-in's code counts as a confirmation.
    j.site.clock.advance(301);
    j.find_learner(&typo).await;
    assert!(b.text().await.contains("pending activation"));
    // The browser lets it through (it has an @); the site does not (no dot in the domain).
    b.fill("New email", "pat@exmaple").await;
    b.press("Change email").await;
    assert_eq!(b.status().await, 422);
    assert_eq!(b.field_attr("New email", "aria-describedby").await.as_deref(), Some("new_email-error"));
    assert_eq!(b.value_of("New email").await, "pat@exmaple", "what was typed comes back");
    b.snap("console-change-email-refused").await;

    b.fill("New email", &right).await;
    b.press("Change email").await;
    assert_eq!(b.heading().await, "Change email", "the confirm step");
    let step = b.text().await;
    assert!(step.contains(&format!("Change the email of {typo} to {right}?")), "{step}");
    assert!(step.contains("a new activation link goes to the new address"), "{step}");
    assert!(j.site.mail_to(&right).await.is_empty(), "nothing yet");
    b.snap("console-change-email-confirm").await;
    j.confirm_with_code(&operator).await;
    b.press("Yes, change the email").await;
    let done = b.text_of("[role=alert]").await;
    assert!(done.contains("The email is changed. A new activation link went to the new address"), "{done}");
    assert_eq!(b.text_of("section[aria-label=Learner] h2").await, right, "the card of the corrected address");
    assert!(j.site.mail_to(&typo).await.len() == 1, "the misspelled address is told nothing more");

    // The link mailed to the misspelled address no longer activates.
    b.open(&old_link).await;
    assert!(b.text().await.contains("This activation link is not valid"), "{}", b.text().await);
    assert!(!b.has_button("Activate my account").await);
    assert_eq!(j.status_of(&right).await.as_deref(), Some("pending_activation"));

    // The learner activates from the corrected mailbox and signs in with the corrected address.
    let link = j.site.mailed_link(&right, "Activate", "/activate/").await;
    b.open(&link).await;
    assert_eq!(b.heading().await, "Activate your account");
    b.fill("Password", PASSWORD).await;
    b.press("Activate my account").await;
    assert_eq!(b.heading().await, "Your account is active");
    j.sign_in(&right, PASSWORD).await;
    assert_eq!(b.path().await, "/account/settings");
    assert!(b.text().await.contains(&right));
    j.finish().await;
}

in_the_browser! {
    an_operator_corrects_a_pending_learners_misspelled_address: memory, moto;
}
