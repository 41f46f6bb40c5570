"""Commands for planning and watching a long run, outside Snakemake.

    higgs-repro estimate [--jobs N] [--configfile F ...] [--config k=v ...]
    higgs-repro status [--results DIR] [--configfile F ...] [--config k=v ...]

(``higgs-repro`` is installed by ``pip install -e .``; ``python -m reproduce`` is the same.)

Run them in the workflow's folder (the clone, with ``Snakefile`` and ``config.yaml``), as
``snakemake``. ``--configfile`` and ``--config`` mean what they mean to ``snakemake``: the
config is ``config.yaml``, then the files,
then the ``--config`` pairs (parsed by Snakemake's own parser, so a pair that works there
works here), then the preset and the schema through ``reproduce.config.load_config``, as the
Snakefile does. A bad config prints the message naming the key and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from reproduce.config import ConfigError, deep_merge, load_config


def config_yaml() -> Path:
    """The workflow's ``config.yaml``, in the current folder beside its ``Snakefile``."""
    here = Path("config.yaml")
    if not (here.exists() and Path("Snakefile").exists() and Path("workflow").is_dir()):
        raise ConfigError(f"no workflow in {Path.cwd()}: run this in the workflow's folder "
                          "(the clone, with Snakefile, config.yaml and workflow/), as snakemake")
    return here


def active_config(configfiles: list[str], pairs: list[str]) -> dict:
    """The config a ``snakemake --configfile ... --config ...`` run would use, validated.

    Raises ConfigError (naming the key or the file) when it cannot run.
    """
    def read(path) -> dict:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path}: not valid YAML ({exc})") from exc
        if not isinstance(data, (dict, type(None))):
            raise ConfigError(f"config file {path}: expected a mapping of keys, "
                              f"found {type(data).__name__}")
        return data or {}

    base = read(config_yaml())
    user = {}  # what Snakemake records as overwrite_config: the files, then the pairs
    for path in configfiles:
        user = deep_merge(user, read(path))
    if pairs:
        from snakemake.cli import parse_config
    try:
        user = deep_merge(user, parse_config(pairs) if pairs else {})
    except (ValueError, AssertionError) as exc:
        raise ConfigError(f"--config {' '.join(pairs)}: {exc}") from exc
    return load_config(deep_merge(base, user), workflow_dir=Path("workflow"), base=base, user=user)


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configfile", nargs="+", default=[], metavar="FILE",
                        help="config files merged over config.yaml (as snakemake's)")
    parser.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config values set on top (as snakemake's --config)")


def program_name() -> str:
    """``higgs-repro`` when run as the console command, else ``python -m reproduce``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "higgs-repro" if name.startswith("higgs-repro") else "python -m reproduce"


def status_text(results: str | None, config: dict | None) -> str:
    """The status of ``results`` (or the config's folder); with neither, of every results
    folder holding runs under ``results/`` (``reproduce.status.results_folders``)."""
    from reproduce.status import results_folders, status_command

    if results or config:
        return status_command(Path(results or config["results"]), config)
    folders = results_folders(Path("results")) or [Path("results")]
    return "\n\n".join(status_command(folder, None) for folder in folders)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=program_name(), description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    estimate = commands.add_parser(
        "estimate", help="time each network here and print the cost of the configured run")
    estimate.add_argument("--jobs", type=int, default=1,
                          help="parallel training slots (GPUs, nodes or job slots; default 1)")
    _add_config_options(estimate)

    status = commands.add_parser(
        "status", help="one row per run from the live logs and state files, and the ETA")
    status.add_argument("--results", help="the results folder (default: the config's, "
                        "else every folder with runs under results/)")
    _add_config_options(status)

    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from reproduce.status import NoResults

    try:
        if args.command == "estimate":
            if args.jobs < 1:
                parser.error("--jobs must be at least 1")
            from reproduce.estimate import estimate_command

            print(estimate_command(active_config(args.configfile, args.config), args.jobs))
        else:
            explicit = bool(args.configfile or args.config)
            config = active_config(args.configfile, args.config) if explicit else None
            print(status_text(args.results, config))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NoResults as exc:
        print(f"status: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
