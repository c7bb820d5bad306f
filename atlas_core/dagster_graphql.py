"""GraphQL documents Atlas sends to Dagster's webserver from more than one place (the REST API and the
CLI): written once here. Dagster's Python client has no method for backfills."""

LAUNCH_BACKFILL = """
mutation AtlasLaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
    ... on InvalidSubsetError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
  }
}"""

BACKFILL = """
query AtlasBackfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id status numPartitions partitionNames timestamp endTimestamp
      assetSelection { path }
      runs { runId status }
    }
    ... on PythonError { message }
  }
}"""
