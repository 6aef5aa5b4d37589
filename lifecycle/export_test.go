package lifecycle

// TransitionsMetric exposes the transitions counter to tests.
var TransitionsMetric = transitions
