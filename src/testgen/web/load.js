import { api } from "./api.js";
import { STORY_LIMIT } from "./constants.js";
import { $ } from "./dom.js";
import { renderExportProjects } from "./exports.js";
import { renderProjectTable } from "./projects.js";
import { state } from "./state.js";
import { renderProjects } from "./story-form.js";
import { renderStories } from "./stories.js";
import { scheduleStream, stream } from "./stream.js";

// --- loading --------------------------------------------------------------------------------------
export async function load() {
  const [{ data: projects }, { data: stories }, { data: providers }] = await Promise.all([
    api("GET", "/projects?limit=500"),
    api("GET", `/user-stories?limit=${STORY_LIMIT}`),
    api("GET", "/projects/providers"),
  ]);
  state.projects = new Map(projects.map((p) => [p.id, p]));
  state.providers = providers;
  renderProjectTable();
  state.stories = stories;
  const selected = $("#project-select").value;
  renderProjects(state.projects.has(Number(selected)) ? Number(selected) : undefined);
  renderExportProjects();
  renderStories();
  // Restore badges: follow the latest job of every story we know nothing about yet.
  let added = false;
  for (const story of stories) {
    if (!state.storyTask.has(story.id) && !stream.pendingStories.has(story.id)) {
      stream.pendingStories.add(story.id);
      added = true;
    }
  }
  if (added) scheduleStream(0);
}
