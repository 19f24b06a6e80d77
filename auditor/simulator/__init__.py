"""A GitLab REST v4 double served over real HTTP, fed from worlds under fixtures/."""
