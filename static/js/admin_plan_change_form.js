// The plan change form in the admin (templates/admin/billing/plan/change_form.html).
// A row added with "Add another" is a copy of the empty form, whose ids Django's inline
// script renumbers but not the aria-describedby that points at them.
document.addEventListener("formset:added", (event) => {
  const index = event.target.id.split("-").pop();
  for (const field of event.target.querySelectorAll("[aria-describedby*='__prefix__']")) {
    field.setAttribute("aria-describedby", field.getAttribute("aria-describedby").replaceAll("__prefix__", index));
  }
});
