"""The studio page (`generation.views.studio`): iterating without retyping (the last settings,
reuse, re-run, new version, a job's parent), choosing a shape without arithmetic, every error at
once, and the job grid (filter, search, pages) with its live budget line."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from generation.forms import aspect_presets, duration_presets, frame_counts, side_lengths
from generation.models import Job
from generation.pipeline.constraints import check_shape
from generation.progress import budget_event, job_event
from generation.quotas import Limits, limits_for
from generation.registry import ModelSpec, Params, get_model
from generation.selectors import STUDIO_PAGE_SIZE
from generation.services import PROMPT_MAX_CHARS
from realtime.events import BudgetEvent
from realtime.groups import job_group, user_group
from review.models import Output
from tests.factories import make_job, make_output

pytestmark = pytest.mark.django_db

SETTINGS = {
    "model": "demo",
    "prompt": "a heron at dawn",
    "negative_prompt": "text, logos",
    "seed": "",
    "num_frames": 13,
    "width": 96,
    "height": 48,
    "steps": 6,
    "guidance": 4.5,
}


def _initial(response) -> dict:
    form = response.context["form"]
    return {name: form[name].value() for name in form.fields}


def test_the_form_keeps_the_last_settings_after_generate(signed_in, dispatched):
    response = signed_in.post(reverse("studio"), SETTINGS)
    assert response.status_code == 302 and response["Location"] == reverse("studio")

    shown = _initial(signed_in.get(reverse("studio")))

    assert {key: shown[key] for key in ("prompt", "num_frames", "width", "height")} == {
        "prompt": "a heron at dawn",
        "num_frames": 13,
        "width": 96,
        "height": 48,
    }
    assert (shown["negative_prompt"], shown["steps"], shown["guidance"]) == ("text, logos", 6, 4.5)
    assert shown["seed"] is None  # a random seed stays random
    assert shown["client_token"]  # a fresh token: the kept form submits a new job


def test_reuse_settings_prefills_the_form_and_names_the_job_as_parent(signed_in, tester):
    job = make_job(tester, prompt="a fox in snow")

    response = signed_in.get(reverse("studio"), {"from": job.id, "as": "reuse"})

    shown = _initial(response)
    assert response.status_code == 200
    assert (shown["prompt"], shown["seed"], shown["parent"]) == ("a fox in snow", 1, str(job.id))
    assert response.context["derived"].mode == "reuse"


def test_rerun_prefills_the_same_settings_with_a_new_seed(signed_in, tester):
    job = make_job(tester, prompt="a fox in snow")

    shown = _initial(signed_in.get(reverse("studio"), {"from": job.id, "as": "rerun"}))

    assert (shown["prompt"], shown["num_frames"], shown["seed"]) == ("a fox in snow", 5, None)


def test_new_version_shows_the_reviewers_note_beside_the_prompt(signed_in, tester, outputs_dir):
    output = make_output(tester, state=Output.State.NEEDS_CHANGES)
    Output.objects.filter(id=output.id).update(
        decision_reason="too dark", decision_note="Try it in daylight."
    )

    response = signed_in.get(reverse("studio"), {"from": output.job_id, "as": "revise"})

    assert _initial(response)["parent"] == str(output.job_id)
    page = response.content.decode()
    assert 'data-testid="reviewer-note"' in page
    assert "too dark" in page and "Try it in daylight." in page


def test_a_job_submitted_from_another_remembers_its_parent(signed_in, tester, dispatched):
    parent = make_job(tester)

    signed_in.post(reverse("studio"), {**SETTINGS, "parent": parent.id})

    child = Job.objects.exclude(id=parent.id).get()
    assert child.parent == parent
    assert job_event(child).parent_id == str(parent.id)


def test_a_parent_that_is_not_the_testers_own_job_is_refused(signed_in, other_tester, dispatched):
    theirs = make_job(other_tester)

    response = signed_in.post(reverse("studio"), {**SETTINGS, "parent": theirs.id})

    assert response.status_code == 400
    assert "not one of yours" in " ".join(response.context["form"].non_field_errors())
    assert Job.objects.count() == 1


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ({"from": "not-a-uuid"}, 400, "valid UUID"),
        ({"from": str(uuid.uuid4())}, 404, "no job of yours"),
        ({"from": str(uuid.uuid4()), "as": "fork"}, 400, "not one of the available choices"),
    ],
)
def test_a_bad_from_is_reported_on_the_page(signed_in, query, status, words):
    response = signed_in.get(reverse("studio"), query)

    assert response.status_code == status
    assert words in " ".join(response.context["problems"])
    assert _initial(response)["parent"] is None


def test_another_testers_job_cannot_be_reused(signed_in, other_tester):
    response = signed_in.get(reverse("studio"), {"from": make_job(other_tester).id})

    assert response.status_code == 404
    assert "a lighthouse" not in response.content.decode()


def test_every_error_comes_at_once_next_to_its_field_in_human_words(signed_in, dispatched):
    response = signed_in.post(
        reverse("studio"), {**SETTINGS, "steps": "many", "num_frames": 10, "width": 70}
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"steps", "num_frames", "width"}
    assert errors["num_frames"] == ["Frames must be 4k+1 (1, 5, 9, 13, …); got 10."]
    assert errors["width"] == ["Width must be a positive multiple of 16; got 70."]
    page = response.content.decode()
    assert 'data-testid="errors-summary"' in page and 'id="id_num_frames-error"' in page
    assert ">Frames</a>: Frames must be 4k+1" in page  # the summary links each field by name
    assert not Job.objects.exists()


def test_the_shape_choices_are_all_shapes_the_pipeline_accepts(tester):
    spec = get_model("demo")
    limits = limits_for(tester, spec)
    presets = aspect_presets(spec, limits) + duration_presets(spec, limits)

    assert frame_counts(17) == [1, 5, 9, 13, 17] and side_lengths(64) == [16, 32, 48, 64]
    assert [p.label for p in aspect_presets(spec, limits)] == ["1:1", "16:9", "9:16", "4:3", "3:4"]
    assert [p.label for p in duration_presets(spec, limits)] == ["0.6 s", "1.1 s", "2.1 s"]
    for preset in presets:
        shape = {"num_frames": 9, "width": 64, "height": 64, **preset.values}
        assert not check_shape(**shape), preset
        assert shape["num_frames"] <= limits.num_frames and shape["width"] <= limits.width


def _model(defaults: tuple[int, int], limits: tuple[int, int]) -> tuple[ModelSpec, Limits]:
    spec = ModelSpec(
        name="m",
        label="M",
        source="m",
        dtype="float32",
        device="cpu",
        fps=16,
        demo=False,
        enabled=True,
        slots=1,
        defaults=Params(num_frames=9, width=defaults[0], height=defaults[1], steps=4, guidance=5),
        limits=Params(num_frames=81, width=limits[0], height=limits[1], steps=50, guidance=12),
    )
    return spec, Limits(81, limits[0], limits[1], 50, 12.0, None, None, None)


def _sizes(spec: ModelSpec, limits: Limits) -> dict[str, tuple[int, int]]:
    presets = aspect_presets(spec, limits)
    return {p.label: (p.values["width"], p.values["height"]) for p in presets}


@pytest.mark.parametrize(
    "defaults, limits, expected",
    [
        # The demo model: 16:9 is 112x64 (1.75), not 64x32 (2:1).
        (
            (64, 64),
            (128, 128),
            {
                "1:1": (64, 64),
                "16:9": (112, 64),
                "9:16": (64, 112),
                "4:3": (64, 48),
                "3:4": (48, 64),
            },
        ),
        # At most 480 wide, 832 tall: the model's own 480x832 is its 9:16.
        (
            (480, 832),
            (480, 832),
            {
                "1:1": (480, 480),
                "16:9": (480, 272),
                "9:16": (480, 832),
                "4:3": (480, 368),
                "3:4": (480, 656),
            },
        ),
        # Wan's 832x480 is near enough to 16:9 to be its chip.
        (
            (832, 480),
            (832, 832),
            {
                "1:1": (480, 480),
                "16:9": (832, 480),
                "9:16": (480, 832),
                "4:3": (656, 480),
                "3:4": (480, 656),
            },
        ),
        # Nothing but squares fits within 10 % of the other ratios: only the 1:1 chip.
        ((32, 32), (32, 32), {"1:1": (32, 32)}),
    ],
)
def test_each_aspect_chip_is_an_allowed_size_near_its_ratio(defaults, limits, expected):
    spec, model_limits = _model(defaults, limits)
    sizes = _sizes(spec, model_limits)

    assert sizes == expected
    for label, (width, height) in sizes.items():
        across, down = map(int, label.split(":"))
        assert abs(width / height / (across / down) - 1) <= 0.10, label
        assert not check_shape(1, width, height)


def test_a_cohorts_narrower_limits_narrow_the_chips():
    spec, _ = _model((64, 64), (128, 128))
    _, cohort_limits = _model((64, 64), (64, 128))

    sizes = _sizes(spec, cohort_limits)
    assert list(sizes) == ["1:1", "9:16", "4:3", "3:4"]  # nothing 64 wide is near 16:9
    assert sizes["9:16"] == (64, 112)


def test_the_prompt_boxes_hold_to_the_servers_limit(signed_in):
    page = signed_in.get(reverse("studio")).content.decode()

    assert page.count(f'maxlength="{PROMPT_MAX_CHARS}"') == 2
    assert 'name="steps" value="4" min="1" max="12"' in page
    assert 'step="0.5" min="0" max="20.0"' in page


def test_the_summary_counts_errors_not_fields(signed_in, dispatched):
    response = signed_in.post(reverse("studio"), {**SETTINGS, "num_frames": 100, "width": 70})

    form = response.context["form"]
    assert len(form.errors["num_frames"]) == 2 and form.error_count == 3
    assert "3 things to fix" in response.content.decode()


def test_an_unknown_model_still_reports_every_other_error(signed_in, dispatched):
    response = signed_in.post(
        reverse("studio"),
        {**SETTINGS, "model": "nope", "prompt": "", "num_frames": 10, "width": 70, "steps": 99},
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"model", "prompt", "num_frames", "width", "steps"}
    assert errors["steps"] == ["Must be between 1 and 12 for any of your models."]
    assert f"{response.context['form'].error_count} things to fix" in response.content.decode()
    assert not Job.objects.exists()


def test_the_form_offers_only_valid_shapes(signed_in):
    form = signed_in.get(reverse("studio")).context["form"]

    assert [value for value, _ in form.fields["num_frames"].widget.choices] == [1, 5, 9, 13, 17]
    assert all(value % 16 == 0 for value, _ in form.fields["width"].widget.choices)


def test_the_grid_filters_by_state_and_searches_prompts(signed_in, tester):
    make_job(tester, prompt="a red kite")
    make_job(tester, prompt="a red fox", state=Job.State.SUCCEEDED)
    make_job(tester, prompt="a blue whale", state=Job.State.SUCCEEDED)

    found = signed_in.get(reverse("studio"), {"state": "succeeded", "q": "RED"})

    assert [job["prompt"] for job in found.context["initial_jobs"]] == ["a red fox"]


def test_the_grid_is_paged(signed_in, tester):
    for _ in range(STUDIO_PAGE_SIZE + 2):
        make_job(tester)

    first = signed_in.get(reverse("studio"))
    second = signed_in.get(reverse("studio"), {"page": 2})

    assert len(first.context["initial_jobs"]) == STUDIO_PAGE_SIZE
    assert len(second.context["initial_jobs"]) == 2
    assert 'data-live-new="0"' in second.content.decode()  # new jobs appear on page 1 only


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"state": "done"}, "“state”: Select a valid choice"),
        ({"page": "two"}, "“page”: Enter a whole number"),
        ({"page": 9}, "there is no page 9"),
    ],
)
def test_bad_grid_filters_are_reported_not_ignored(signed_in, tester, query, words):
    make_job(tester)

    response = signed_in.get(reverse("studio"), query)

    assert response.status_code == 400
    assert words in " ".join(response.context["problems"])
    assert len(response.context["initial_jobs"]) == 1  # the rest of the page still works


def test_the_budget_line_is_published_when_a_job_is_queued_or_ends(
    signed_in, tester, dispatched, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[tuple[object, list[str]]] = []

    def publish(event, *, groups, **_throttle) -> bool:
        sent.append((event, list(groups)))
        return True

    def publish_all(sends) -> bool:
        return all([publish(event, groups=groups) for event, groups in sends])

    monkeypatch.setattr("generation.progress.publish", publish)
    monkeypatch.setattr("generation.progress.publish_all", publish_all)

    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(reverse("studio"), SETTINGS)
        job = Job.objects.get()
        signed_in.post(reverse("job_cancel", kwargs={"job_id": job.id}))

    budgets = [groups for event, groups in sent if isinstance(event, BudgetEvent)]
    assert budgets == [[user_group(tester.id)], [user_group(tester.id)]]
    assert budget_event(tester).waiting == 0


def test_a_new_job_is_announced_to_its_owner_only_not_to_its_own_group(
    signed_in, tester, dispatched, monkeypatch, django_capture_on_commit_callbacks
):
    """No socket can have joined the job's group when it is queued (its id leaves with the
    response): the "queued" event goes to the owner's sockets, with the budget, in one send."""
    handed_over: list[list[tuple[str, str]]] = []

    def group_send_all(sends):
        handed_over.append([(group, message["type"]) for group, message in sends])
        return [None] * len(sends)

    monkeypatch.setattr("realtime.publisher._sender.group_send_all", group_send_all)

    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(reverse("studio"), SETTINGS)

    job = Job.objects.get()
    [first, *_] = handed_over  # then the dispatcher's own events
    assert first == [
        (user_group(tester.id), "job.update"),
        (user_group(tester.id), "budget.update"),
    ]
    assert job_group(job.id) not in {group for group, _ in first}


def test_a_job_payload_carries_what_its_card_shows(tester):
    job = make_job(tester, state=Job.State.CANCELLED)

    payload = job_event(job).as_dict()

    assert payload["parameters"] == {
        "negative_prompt": "",
        "seed": 1,
        "num_frames": 5,
        "width": 32,
        "height": 32,
        "steps": 4,
        "guidance": 5.0,
    }
    assert payload["state_label"] == "Cancelled" and payload["parent_id"] is None


def test_the_state_tabs_count_the_testers_own_jobs_and_follow_the_search(
    signed_in, tester, other_tester
):
    make_job(tester, prompt="a red kite")
    make_job(tester, prompt="a red fox", state=Job.State.SUCCEEDED)
    make_job(tester, prompt="blue hour", state=Job.State.SUCCEEDED)
    make_job(other_tester, prompt="a red herring")  # someone else's: never counted

    def tabs(query: dict) -> dict[str, int]:
        response = signed_in.get(reverse("studio"), query)
        assert response.status_code == 200
        counts = {value: count for value, _label, count in response.context["states"]}
        return {**counts, "all": response.context["all_count"], "html": response.content.decode()}

    everything, red = tabs({}), tabs({"q": "RED"})

    assert (everything["all"], everything["queued"], everything["succeeded"]) == (3, 1, 2)
    assert everything["failed"] == 0
    assert (red["all"], red["queued"], red["succeeded"]) == (2, 1, 1)
    assert 'Succeeded <span class="count">2</span>' in everything["html"]
    assert tabs({"q": "red", "state": "succeeded"})["all"] == 2  # a tab's count ignores the tab
