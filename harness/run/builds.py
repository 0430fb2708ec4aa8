"""Build every implementation before any job: timed, logged, never counted in a task."""

from __future__ import annotations

from harness.errors import HarnessError
from harness.process import impls
from harness.results import Build, Implementation
from harness.run.context import Context, save


def build_all(ctx: Context) -> None:
    env = impls.job_env(ctx.config.threads)
    for impl in ctx.chosen:
        if impl.build is not None:
            ctx.display.line(f"building {impl.id} ...")
        record = impls.build(impl, ctx.run_dir / "build" / f"{impl.id}.log", env)
        build = Build(impl=record.impl, ok=record.ok, wall_s=record.wall_s, log=record.log)
        ctx.results = ctx.results.model_copy(update={"builds": [*ctx.results.builds, build]})
        save(ctx)
        if not record.ok:
            raise HarnessError(f"building {impl.id} failed; see {record.log}")
        facts = Implementation(language=impl.language, versions=impls.versions(impl, env))
        known = {**ctx.results.implementations, impl.id: facts}
        ctx.results = ctx.results.model_copy(update={"implementations": known})
    save(ctx)
