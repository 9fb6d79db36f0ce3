"""The live view of an event stream (issue 21): the Live page and the User explorer's live panel."""
