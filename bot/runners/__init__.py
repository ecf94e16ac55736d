"""The background runners of every process that serves Slack: each takes its share of due work from the
database, once across processes, by the database's clock.

- watcher: polls paused campaigns as they come due, one alert per pause;
- scheduler: scheduled resumes, when their time comes, through the one resume flow;
- resume_all: resume-all jobs, paced, going on after a restart;
- abandoned: ends what a process killed mid-resume left saying "Resuming…";
- steps: Workflow Builder step runs no request waits on (resume all's waits, a dead process's runs).
"""
