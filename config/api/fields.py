from rest_framework import serializers


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: "15000", 15000.0 and true are refused.

    Money and quantities are exact; DRF's IntegerField would coerce a string or a float.
    """

    default_error_messages = {"type": "A JSON integer is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("type")
        return super().to_internal_value(data)
